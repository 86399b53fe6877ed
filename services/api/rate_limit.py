"""The Redis side of an API key: whether it was recently found active or unknown, its token
bucket, and the budget of failed authentications of each client address.

One script call per request answers all of it, so a request with a known key, or with a key
found unknown lately, never touches MySQL. Keys are named by the key's SHA-256 (never the key
itself), which the request can compute.
"""

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

from services.api.redis_batch import RedisBatcher
from shared.redis_keys import RedisKeys

# How long a key found active in MySQL is trusted without asking again. Revoking through
# `keys revoke` deletes the mark at once; this only bounds a revocation made behind its back.
CHECKED_TTL_SECONDS = 60
# How long a key found unknown or revoked is refused without asking MySQL again. `keys create`
# deletes the mark of the key it makes; this only bounds a key inserted behind its back.
UNKNOWN_TTL_SECONDS = 60

# KEYS: the key's "checked" mark, its bucket, its "unknown" mark, the client's failure bucket,
# its lookup lock.
# ARGV: the key's rate and burst, the client's failure rate and burst (per second), the mark's
# age (seconds left) below which it is renewed, and its full TTL.
# Buckets run on Redis's own clock (replicas whose clocks disagree still share one budget).
# A checked key takes a token from its bucket: {allowed (1/0), tokens left (as text: Lua would
# truncate a number to an integer), milliseconds until one token is back, 1 when this request
# is the one to check the key in MySQL again}. The mark is renewed by one request, ahead of its
# expiry, so a key in steady use never finds itself unvouched (and its requests never crowd
# the failure budget at once when the mark lapses). Any other key takes
# a token from the client's failure budget first, so concurrent floods cannot outrun it; the
# API gives the token back when MySQL finds the key active. Then {-2, '0', 0} for a key found
# unknown lately, {-4, '0', 0} while another request is asking MySQL about it (wait for its
# answer: concurrent first requests of one key cost one lookup and one token), {-3, '0', wait}
# when the budget is spent, {-1, '0', 0} to ask MySQL.
BUCKET_SCRIPT = """
local clock = redis.call('TIME')
local now = clock[1] * 1000 + clock[2] / 1000
local function take(bucket, rate, burst)
  local state = redis.call('HMGET', bucket, 'tokens', 'at')
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
  redis.call('HSET', bucket, 'tokens', tokens, 'at', now)
  redis.call('PEXPIRE', bucket, math.ceil(burst * 1000 / rate) + 1000)
  return allowed, tokens, wait_ms
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  local allowed, tokens, wait_ms = take(KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]))
  local recheck = 0
  if redis.call('TTL', KEYS[1]) < tonumber(ARGV[5]) then
    redis.call('EXPIRE', KEYS[1], ARGV[6])
    recheck = 1
  end
  return {allowed, tostring(tokens), wait_ms, recheck}
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  return {-2, '0', 0}
end
if not redis.call('SET', KEYS[5], '1', 'NX', 'PX', ARGV[7]) then
  return {-4, '0', 0}
end
local allowed, tokens, wait_ms = take(KEYS[4], tonumber(ARGV[3]), tonumber(ARGV[4]))
if allowed == 0 then
  redis.call('DEL', KEYS[5])
  return {-3, '0', wait_ms}
end
return {-1, '0', 0}
"""
# KEYS: the key's "checked" mark, its "unknown" mark, the client's failure bucket, its lookup
# lock (released). ARGV: the mark's TTL, the failure burst. The token the lookup held goes
# back, up to the burst.
VOUCH_SCRIPT = """
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
redis.call('DEL', KEYS[2], KEYS[4])
local tokens = tonumber(redis.call('HGET', KEYS[3], 'tokens'))
if tokens then
  redis.call('HSET', KEYS[3], 'tokens', math.min(tonumber(ARGV[2]), tokens + 1))
end
"""
FAILURES_EXHAUSTED = -3
# How long one request may hold a key's lookup lock; the others wait for its answer meanwhile.
LOOKUP_LOCK_MILLISECONDS = 2000


class Unvouched(Enum):
    """What Redis says of a key it does not vouch for."""

    # Not seen lately: ask MySQL (the lookup holds one token of the client's failure budget).
    LOOK_UP = -1
    # Found unknown or revoked lately: refuse it without asking MySQL.
    UNKNOWN = -2
    # Another request is asking MySQL about this key: ask Redis again shortly.
    BEING_LOOKED_UP = -4


@dataclass(frozen=True, slots=True)
class FailuresExhausted:
    """The client address has failed to authenticate too often lately."""

    retry_after_seconds: int


@dataclass(frozen=True, slots=True)
class RateDecision:
    """The outcome of one request against its key's budget."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    retry_after_seconds: int
    # This request renewed the key's mark: it checks the key in MySQL again.
    recheck: bool = False

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
        self,
        batcher: RedisBatcher,
        keys: RedisKeys,
        *,
        per_second: float,
        burst: int,
        failures_per_second: float,
        failure_burst: int,
    ) -> None:
        self.batcher = batcher
        self.script = batcher.redis.register_script(BUCKET_SCRIPT)
        self.vouch_script = batcher.redis.register_script(VOUCH_SCRIPT)
        self.keys = keys
        self.per_second = per_second
        self.burst = burst
        self.failures_per_second = failures_per_second
        self.failure_burst = failure_burst

    async def take(
        self, key_hash: str, client: str
    ) -> RateDecision | Unvouched | FailuresExhausted:
        """The decision for one request of `client` (its address) with the key `key_hash`."""
        reply = await self.batcher.script(
            self.script,
            [
                self.keys.api_key_checked(key_hash),
                self.keys.api_rate_limit(key_hash),
                self.keys.api_key_unknown(key_hash),
                self.keys.api_auth_failures(client),
                self.keys.api_key_lookup(key_hash),
            ],
            [
                self.per_second,
                self.burst,
                self.failures_per_second,
                self.failure_burst,
                CHECKED_TTL_SECONDS // 2,
                CHECKED_TTL_SECONDS,
                LOOKUP_LOCK_MILLISECONDS,
            ],
        )
        return self._decision(reply)

    def _decision(self, reply: list[Any]) -> RateDecision | Unvouched | FailuresExhausted:
        allowed, tokens_text, wait_ms = (int(reply[0]), reply[1], int(reply[2]))
        if allowed == FAILURES_EXHAUSTED:
            return FailuresExhausted(_seconds(wait_ms))
        if allowed < 0:
            return Unvouched(allowed)
        tokens = float(tokens_text)
        return RateDecision(
            allowed=bool(allowed),
            limit=self.burst,
            remaining=math.floor(tokens),
            reset_seconds=math.ceil((self.burst - tokens) / self.per_second),
            retry_after_seconds=_seconds(wait_ms),
            recheck=len(reply) > 3 and bool(int(reply[3])),
        )

    async def vouch(self, key_hash: str, client: str) -> None:
        """Remember for a while that this key was found active; the lookup cost no failure."""
        await self.vouch_script(
            keys=[
                self.keys.api_key_checked(key_hash),
                self.keys.api_key_unknown(key_hash),
                self.keys.api_auth_failures(client),
                self.keys.api_key_lookup(key_hash),
            ],
            args=[CHECKED_TTL_SECONDS, self.failure_burst],
        )

    async def remember_unknown(self, key_hash: str) -> None:
        """Remember for a while that MySQL knows no active key of this hash (and stop vouching
        for it)."""
        async with self.batcher.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.api_key_unknown(key_hash), b"1", ex=UNKNOWN_TTL_SECONDS)
            pipe.delete(self.keys.api_key_checked(key_hash), self.keys.api_key_lookup(key_hash))
            await pipe.execute()


def _seconds(wait_ms: int) -> int:
    """A wait in whole seconds for Retry-After, at least one."""
    return max(1, math.ceil(wait_ms / 1000))
