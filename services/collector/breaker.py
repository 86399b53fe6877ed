"""The TikHub circuit breaker, shared by every collector process through one Redis hash.

Closed: calls go through. After `failure_threshold` transient failures in a row (across all
processes) it opens for `cooloff_seconds`; jobs defer instead of calling. When the cool-off is
over, one job at a time is let through as a probe: a probe that TikHub answers closes it, a probe
that fails opens it again. Rejected credentials (401/402/403) open it with no end: it stays open
for the rejected key until a process with a different key gets an answer, or an operator clears it.
"""

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from services.collector.metrics import CollectorMetrics
from shared.tikhub_usage import key_fingerprint

# Lua returns floats as strings here: numbers would be truncated to integers on the way out.
ADMIT_SCRIPT = """
local now = tonumber(ARGV[1])
local fields = redis.call('HMGET', KEYS[1],
  'open_until', 'probe_until', 'credential', 'reason', 'failures')
local open_until, probe_until = tonumber(fields[1]), tonumber(fields[2])
local credential, reason, failures = fields[3], fields[4] or '', tonumber(fields[5]) or 0
if credential and credential == ARGV[2] then return {'credentials', '0', reason, failures} end
if not open_until and not credential then return {'closed', '0', reason, failures} end
if open_until and now < open_until then
  return {'open', string.format('%.3f', open_until), reason, failures}
end
if probe_until and now < probe_until then
  return {'open', string.format('%.3f', probe_until), reason, failures}
end
redis.call('HSET', KEYS[1], 'probe_until', string.format('%.3f', now + tonumber(ARGV[3])))
return {'half_open', '0', reason, failures}
"""
FAILURE_SCRIPT = """
local probing = redis.call('HEXISTS', KEYS[1], 'probe_until') == 1
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if probing or failures >= tonumber(ARGV[2]) then
  local open_until = string.format('%.3f', tonumber(ARGV[1]) + tonumber(ARGV[3]))
  redis.call('HSET', KEYS[1], 'open_until', open_until, 'reason', ARGV[4], 'failures', 0)
  redis.call('HDEL', KEYS[1], 'probe_until')
  return 1
end
return 0
"""


class BreakerState(enum.IntEnum):
    """The breaker's state; the values are those of the `collector_tikhub_breaker_state` gauge."""

    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2
    CREDENTIALS = 3


@dataclass(frozen=True, slots=True)
class Admission:
    """What the breaker said to one caller: go (closed or as the probe), or wait and why."""

    state: BreakerState
    # When a refused caller should ask again: the end of the cool-off or of the probe's lease;
    # after a rejected key, whose end nobody knows, one cool-off.
    retry_in: float
    reason: str
    failures: int

    @property
    def allowed(self) -> bool:
        """Whether the caller may call TikHub now."""
        return self.state in (BreakerState.CLOSED, BreakerState.HALF_OPEN)


class CircuitBreaker:
    """The shared breaker as seen by one process (which knows its own key's fingerprint)."""

    def __init__(
        self,
        redis: Redis,
        key: str,
        *,
        api_key: str,
        failure_threshold: int,
        cooloff_seconds: float,
        probe_lease_seconds: float,
        metrics: CollectorMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.key = key
        self.fingerprint = key_fingerprint(api_key)
        self.failure_threshold = failure_threshold
        self.cooloff_seconds = cooloff_seconds
        self.probe_lease_seconds = probe_lease_seconds
        self.metrics = metrics
        self.clock = clock
        self._admit = redis.register_script(ADMIT_SCRIPT)
        self._fail = redis.register_script(FAILURE_SCRIPT)

    async def admit(self) -> Admission:
        """Whether a call may go now; in half-open state only one caller at a time gets to."""
        now = self.clock()
        state, retry_at, reason, failures = await self._admit(
            keys=[self.key], args=[now, self.fingerprint, self.probe_lease_seconds]
        )
        admission = Admission(
            state=BreakerState[state.decode().upper()],
            retry_in=max(0.0, float(retry_at) - now) if float(retry_at) else self.cooloff_seconds,
            reason=reason.decode(),
            failures=int(failures),
        )
        self.metrics.breaker_state.set(admission.state)
        return admission

    async def record_success(self, admission: Admission) -> None:
        """TikHub answered: close the breaker (nothing to write when it was closed and clean)."""
        if admission.state is not BreakerState.CLOSED or admission.failures:
            await self.redis.delete(self.key)
            self.metrics.breaker_state.set(BreakerState.CLOSED)

    async def record_failure(self, reason: str) -> bool:
        """A transient failure (after retries); True when it opened the breaker."""
        opened = await self._fail(
            keys=[self.key],
            args=[self.clock(), self.failure_threshold, self.cooloff_seconds, reason],
        )
        if opened:
            self.metrics.breaker_state.set(BreakerState.OPEN)
        return bool(opened)

    async def record_rejected_credentials(self, reason: str) -> None:
        """TikHub refused this process's key: stay open until the key changes or is cleared."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.key, mapping={"credential": self.fingerprint, "reason": reason})
            pipe.hdel(self.key, "probe_until", "open_until", "failures")
            await pipe.execute()
        self.metrics.breaker_state.set(BreakerState.CREDENTIALS)

    async def clear(self) -> bool:
        """Close the breaker by hand (an operator after fixing the key); True if it was set."""
        return bool(await self.redis.delete(self.key))


async def describe_breaker(redis: Redis, key: str, *, api_key: str, now: float) -> str:
    """The shared breaker's state in one sentence, for `--check` and operators."""
    # redis-py types its commands for the sync and async clients at once.
    raw: dict[bytes, bytes] = await redis.hgetall(key)  # type: ignore[misc]
    fields = {name.decode(): value.decode() for name, value in raw.items()}
    reason = fields.get("reason", "")
    credential = fields.get("credential")
    if credential == key_fingerprint(api_key):
        return (
            f"TikHub breaker open: the API key was rejected ({reason}). Set a valid "
            "TIKHUB_API_KEY or top up the balance, then run `python -m services.collector "
            "--reset-breaker`."
        )
    open_until = float(fields.get("open_until", 0))
    if open_until > now:
        return f"TikHub breaker open for {open_until - now:.0f} s more after failures ({reason})."
    if open_until or credential:
        return "TikHub breaker half-open: the next job probes TikHub."
    failures = int(fields.get("failures", 0))
    return "TikHub breaker closed." + (f" {failures} failures in a row." if failures else "")
