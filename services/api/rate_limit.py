"""The Redis side of an API key: whether it was recently found active, and its token bucket.

One script call per request answers both, so a request with a known key never touches MySQL.
Keys are named by the key's SHA-256 (never the key itself), which the request can compute.
"""

import math
from dataclasses import dataclass
from typing import Any

from services.api.redis_batch import RedisBatcher
from shared.redis_keys import RedisKeys

# How long a key found active in MySQL is trusted without asking again. Revoking through
# `keys revoke` deletes the mark at once; this only bounds a revocation made behind its back.
CHECKED_TTL_SECONDS = 60

# KEYS: the key's "checked" mark, its bucket. Without the mark it answers {-1} and takes
# nothing. Otherwise one step of a token bucket on Redis's own clock (replicas whose clocks
# disagree still share one budget): {allowed (1/0), tokens left (as text: Lua would truncate a
# number to an integer), milliseconds until one token is back}.
BUCKET_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {-1, '0', 0}
end
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = clock[1] * 1000 + clock[2] / 1000
local state = redis.call('HMGET', KEYS[2], 'tokens', 'at')
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
redis.call('HSET', KEYS[2], 'tokens', tokens, 'at', now)
redis.call('PEXPIRE', KEYS[2], math.ceil(burst * 1000 / rate) + 1000)
return {allowed, tostring(tokens), wait_ms}
"""
UNCHECKED = -1


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
    """Takes one token per request from its key's bucket, once the key is known to be active.

    Redis errors propagate: the caller decides what a request does without Redis.
    """

    def __init__(
        self, batcher: RedisBatcher, keys: RedisKeys, *, per_second: float, burst: int
    ) -> None:
        self.batcher = batcher
        self.script = batcher.redis.register_script(BUCKET_SCRIPT)
        self.keys = keys
        self.per_second = per_second
        self.burst = burst

    async def take(self, key_hash: str) -> RateDecision | None:
        """The decision for one request; None when the key was not checked lately."""
        reply = await self.batcher.script(
            self.script, self._keys(key_hash), [self.per_second, self.burst]
        )
        return self._decision(reply)

    def _keys(self, key_hash: str) -> list[str]:
        return [self.keys.api_key_checked(key_hash), self.keys.api_rate_limit(key_hash)]

    def _decision(self, reply: list[Any]) -> RateDecision | None:
        allowed, tokens_text, wait_ms = reply
        if int(allowed) == UNCHECKED:
            return None
        tokens = float(tokens_text)
        return RateDecision(
            allowed=bool(allowed),
            limit=self.burst,
            remaining=math.floor(tokens),
            reset_seconds=math.ceil((self.burst - tokens) / self.per_second),
            retry_after_seconds=max(1, math.ceil(int(wait_ms) / 1000)),
        )

    async def mark_checked(self, key_hash: str) -> None:
        """Remember for a while that this key was found active in MySQL."""
        checked = self.keys.api_key_checked(key_hash)
        await self.batcher.redis.set(checked, b"1", ex=CHECKED_TTL_SECONDS)
