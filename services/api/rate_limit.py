"""Per-key rate limiting: a token bucket in Redis, shared by every API replica."""

import math
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.redis_keys import RedisKeys

log = structlog.get_logger()

# One atomic step of a token bucket. The clock is Redis's own, so replicas whose clocks
# disagree still share one budget. Returns {allowed (1/0), tokens left (as text, Lua numbers
# would be truncated to integers), milliseconds until one token is back}.
BUCKET_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = clock[1] * 1000 + clock[2] / 1000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local allowed = 0
local wait_ms = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait_ms = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {allowed, tostring(tokens), wait_ms}
"""


@dataclass(frozen=True, slots=True)
class RateDecision:
    """The outcome of one request against its key's budget."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    retry_after_seconds: int

    def headers(self) -> dict[str, str]:
        """X-RateLimit-*: the burst, the requests left now, the seconds to a full bucket."""
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_seconds),
        }


class RateLimiter:
    """Takes one token per request from the bucket of the key that made it."""

    def __init__(self, redis: "Redis", keys: RedisKeys, *, per_second: float, burst: int) -> None:
        self.script = redis.register_script(BUCKET_SCRIPT)
        self.keys = keys
        self.per_second = per_second
        self.burst = burst

    async def take(self, key_id: int) -> RateDecision | None:
        """The decision for one request; None when Redis does not answer (the request goes on)."""
        try:
            allowed, tokens_text, wait_ms = await self.script(
                keys=[self.keys.api_rate_limit(str(key_id))], args=[self.per_second, self.burst]
            )
        except RedisError as error:
            log.warning("api.rate_limit_unavailable", error=repr(error))
            return None
        tokens = float(tokens_text)
        return RateDecision(
            allowed=bool(allowed),
            limit=self.burst,
            remaining=math.floor(tokens),
            reset_seconds=math.ceil((self.burst - tokens) / self.per_second),
            retry_after_seconds=max(1, math.ceil(int(wait_ms) / 1000)),
        )
