"""The TikHub request budget shared by every collector process, kept in Redis."""

import asyncio
import random
import time

from redis.asyncio import Redis

from services.collector.metrics import CollectorMetrics

# GCRA with reservations, in microseconds of the Redis server's clock so that every process
# (on any host) agrees on time. The key holds the "theoretical arrival time": the instant the
# next call may go. A caller that may go within `max_wait` books the next slot and is told how
# long to sleep; one that may not books nothing and is told how long the queue is.
RESERVE_SCRIPT = """
local spacing = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local next_free = tonumber(redis.call('GET', KEYS[1]) or now)
if next_free < now then next_free = now end
local wait = next_free - now
if wait > max_wait then return {0, wait} end
-- %.0f: Lua's default number format would round a 16-digit timestamp.
local ttl_ms = math.ceil((wait + spacing) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', next_free + spacing), 'PX', ttl_ms)
return {1, wait}
"""


# How late after its booked instant a call may still go. A call woken later (an event-loop stall)
# books again instead of going, and bookings are spaced by (1 + slack) / rate, so that calls sent
# within the slack of their bookings never exceed the rate in any sliding second.
SEND_SLACK_SECONDS = 0.02


class RateLimited(Exception):
    """No token within the longest wait a call may make; `retry_in` is the queue's length."""

    def __init__(self, retry_in: float) -> None:
        super().__init__(f"TikHub rate budget booked for the next {retry_in:.1f} s")
        self.retry_in = retry_in


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
        self.metrics = metrics
        self._reserve = redis.register_script(RESERVE_SCRIPT)

    async def acquire(self) -> None:
        """Wait for this call's turn, or raise RateLimited when it is further than the bound."""
        while True:
            # Taken before the booking, so the booked instant is never thought later than it is.
            asked_at = time.monotonic()
            granted, wait_us = await self._reserve(
                keys=[self.key], args=[self.spacing_us, self.max_wait_us]
            )
            wait = int(wait_us) / 1_000_000
            if not granted:
                # Callers told the same queue length would all come back at once; spread them
                # over the next max-wait window so they arrive as the budget frees up.
                raise RateLimited(wait + random.uniform(0, self.max_wait_us / 1_000_000))
            self.metrics.rate_limit_wait.observe(wait)
            if wait > 0:
                await asyncio.sleep(wait)
            if time.monotonic() - (asked_at + wait) <= SEND_SLACK_SECONDS:
                return
            self.metrics.rate_limit_rebookings.inc()
