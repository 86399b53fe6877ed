"""The TikHub request budget shared by every collector process, kept in Redis."""

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import datetime

from redis.asyncio import Redis

from services.collector.metrics import CollectorMetrics
from shared.models import utcnow

# GCRA with reservations, in microseconds of the Redis server's clock so that every process
# (on any host) agrees on time. KEYS[1] holds the "theoretical arrival time": the instant the
# next call may go. A caller that may go within `max_wait` books the next instant and is told
# how long to sleep. A caller further back books nothing and is told the queue's length, unless
# it holds a place in the line (KEYS[2], a collection's turn): then it books the instant however
# far away, as long as that is within `horizon`, and keeps it under its turn until it comes back
# for it. So whoever asked first goes first, whether it waited in a sleep or on the job queue.
# KEYS[1] outlives its last booking by `keep` (far longer than any wait), so a missing key means
# Redis lost it, while calls booked before the loss may still be sleeping up to `max_wait`: the
# schedule then starts `max_wait` from now, after all of them. A first call after a long idle
# pays that wait too.
RESERVE_SCRIPT = """
local spacing = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local horizon = tonumber(ARGV[3])
local slack = tonumber(ARGV[4])
local keep = tonumber(ARGV[5])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
if KEYS[2] then
  local held = redis.call('GET', KEYS[2])
  if held then
    held = tonumber(held)
    if held - now > max_wait then return {2, held - now} end
    redis.call('DEL', KEYS[2])
    -- Come back too late for the instant and it has passed to nobody: book again below. Come
    -- back within the slack: told the instant, passed (a negative wait), so the caller counts
    -- its lateness from it.
    if held + slack >= now then return {1, held - now} end
  end
end
local next_free = tonumber(redis.call('GET', KEYS[1]) or now + max_wait)
if next_free < now then next_free = now end
local wait = next_free - now
local held = 0
if wait > max_wait then
  if not KEYS[2] or wait > horizon then return {0, wait} end
  held = 1
end
-- %.0f: Lua's default number format would round a 16-digit timestamp.
local ttl_ms = math.ceil((wait + spacing) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', next_free + spacing), 'PX', ttl_ms + keep)
if held == 1 then
  redis.call('SET', KEYS[2], string.format('%.0f', next_free), 'PX', ttl_ms)
  return {2, wait}
end
return {1, wait}
"""


# How late after its booked instant a call may still be written to the wire. A call later than
# that (an event-loop stall, a wait for a pooled connection) books again instead of going, and
# bookings are spaced by (1 + slack) / rate, so that calls written within the slack of their
# bookings never exceed the rate in any sliding second. 50 ms, not less: between the last check
# and the write the process can still be descheduled, and on two cores shared with a test suite
# 20 ms let 11 calls into a second for a limit of 10.
SEND_SLACK_SECONDS = 0.05

# How long the schedule is kept after its last booking; see RESERVE_SCRIPT for why.
SCHEDULE_KEPT_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class Turn:
    """A collection's place in the TikHub line: its slot's name, and how long it may wait."""

    name: str
    deadline: datetime


@dataclass(frozen=True, slots=True)
class Grant:
    """A call's booked instant on this process's monotonic clock, and the turn it was for."""

    at: float
    turn: Turn | None

    def on_time(self) -> bool:
        """Whether the call may still go now."""
        return time.monotonic() - self.at <= SEND_SLACK_SECONDS


# What the script answers: no instant booked, an instant to sleep until, one held for a turn.
HELD = 2


class RateLimited(Exception):
    """No token within the longest wait a call may make; come back in `retry_in` seconds. With
    `held`, the call's turn is booked then and kept for it."""

    def __init__(self, retry_in: float, *, held: bool = False) -> None:
        what = "TikHub call booked in" if held else "TikHub rate budget booked for the next"
        super().__init__(f"{what} {retry_in:.1f} s")
        self.retry_in = retry_in
        self.held = held


class RateLimiter:
    """Spaces TikHub calls of all processes evenly, about `1 / rate` seconds apart, at the wire."""

    def __init__(
        self,
        redis: Redis,
        key: str,
        *,
        rate_per_second: float,
        max_wait_seconds: float,
        metrics: CollectorMetrics,
    ) -> None:
        self.key = key
        self.spacing_us = round(1_000_000 * (1 + SEND_SLACK_SECONDS) / rate_per_second)
        self.max_wait_us = round(max_wait_seconds * 1_000_000)
        self.slack_us = round(SEND_SLACK_SECONDS * 1_000_000)
        self.metrics = metrics
        self._redis = redis
        self._reserve = redis.register_script(RESERVE_SCRIPT)

    async def acquire(self, turn: Turn | None = None) -> Grant:
        """Wait for this call's turn, or raise RateLimited when it is further than the bound;
        a `turn` keeps its place in the line while its job waits on the queue. The grant is
        confirmed again as the request is written (`confirm`)."""
        while True:
            asked_at = time.monotonic()
            granted, wait_us = await self._reserve(
                keys=[self.key] if turn is None else [self.key, self.turn_key(turn)],
                args=[
                    self.spacing_us,
                    self.max_wait_us,
                    self._horizon_us(turn),
                    self.slack_us,
                    SCHEDULE_KEPT_MS,
                ],
            )
            answered_at = time.monotonic()
            wait = int(wait_us) / 1_000_000
            if granted == HELD:
                # Back half the longest wait early: arq takes a job off its queue within its
                # poll delay, and the rest is slept.
                raise RateLimited(max(wait - self.max_wait_us / 2_000_000, 0), held=True)
            if not granted:
                # Callers told the same queue length would all come back at once; spread them
                # over the next max-wait window so they arrive as the budget frees up.
                raise RateLimited(wait + random.uniform(0, self.max_wait_us / 1_000_000))
            self.metrics.rate_limit_wait.observe(max(wait, 0))
            # Redis read its clock somewhere between asking and the answer, so the booked
            # instant lies between asked_at + wait and answered_at + wait: the call goes no
            # sooner than the latest it can be, and its lateness counts from the earliest.
            grant = Grant(asked_at + wait, turn)
            if (delay := answered_at + wait - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            if grant.on_time():
                return grant
            self.metrics.rate_limit_rebookings.inc()

    async def confirm(self, grant: Grant) -> None:
        """Called with nothing left to await before the request's first byte is written: a
        grant gone stale since `acquire` (the call waited for a connection, or the process was
        not scheduled) is given up and the call books again, or raises RateLimited."""
        if not grant.on_time():
            self.metrics.rate_limit_rebookings.inc()
            await self.acquire(grant.turn)

    async def holds(self, turn: Turn) -> bool:
        """Whether `turn` has an instant booked with this limiter."""
        return bool(await self._redis.exists(self.turn_key(turn)))

    def turn_key(self, turn: Turn) -> str:
        return f"{self.key}:turn:{turn.name}"

    def _horizon_us(self, turn: Turn | None) -> int:
        if turn is None:
            return 0
        return max(round((turn.deadline - utcnow()).total_seconds() * 1_000_000), 0)
