"""The pool of TikHub keys: each with its own connections, rate limit and breaker in Redis.

Jobs take the keys in turn, skipping any whose breaker is open or that TikHub rejected, so the
pool's capacity is the sum of its usable keys' rate limits.
"""

import itertools
import json
from dataclasses import dataclass

from redis.asyncio import Redis

from services.collector.breaker import Admission, CircuitBreaker
from services.collector.connections import TikHubConnections
from services.collector.rate_limiter import RateLimiter, Turn
from shared.redis_keys import RedisKeys

# The pool's entry in Redis lapses when no collector has refreshed it for this long.
POOL_TTL_SECONDS = 180


@dataclass(frozen=True, slots=True)
class PoolKey:
    """One TikHub key as the collector uses it; the key itself stays inside `http`."""

    fingerprint: str
    http: TikHubConnections
    limiter: RateLimiter
    breaker: CircuitBreaker


class NoKeyAvailable(Exception):
    """Every key's breaker is open or its key rejected; `retry_in` is the soonest retry."""

    def __init__(self, retry_in: float, reasons: list[str]) -> None:
        super().__init__("no TikHub key usable: " + "; ".join(reasons))
        self.retry_in = retry_in


class KeyPool:
    """The keys, taken in turn by jobs."""

    def __init__(
        self, members: list[PoolKey], *, redis: Redis, keys: RedisKeys, rate_per_second: float
    ) -> None:
        assert members, "the pool has at least one key"
        self.members = members
        self.redis = redis
        self.keys = keys
        self.rate_per_second = rate_per_second
        self._turns = itertools.count()

    async def choose(self, returning: Turn | None = None) -> tuple[PoolKey, Admission]:
        """The next key whose breaker lets a call through, with its admission; first the one
        with an instant booked for a `returning` collection, so that it keeps its place."""
        start = next(self._turns)
        if returning is not None and len(self.members) > 1:
            for index, member in enumerate(self.members):
                if await member.limiter.holds(returning):
                    start = index
                    break
        refusals: list[Admission] = []
        for offset in range(len(self.members)):
            member = self.members[(start + offset) % len(self.members)]
            admission = await member.breaker.admit()
            if admission.allowed:
                return member, admission
            refusals.append(admission)
        raise NoKeyAvailable(
            min(refusal.retry_in for refusal in refusals),
            [f"{refusal.state.name.lower()} ({refusal.reason})" for refusal in refusals],
        )

    async def publish(self) -> None:
        """Tell the API which keys the pool has and each one's rate, by fingerprint."""
        rate = json.dumps(self.rate_per_second)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                self.keys.tikhub_pool,
                mapping={member.fingerprint: rate for member in self.members},
            )
            pipe.expire(self.keys.tikhub_pool, POOL_TTL_SECONDS)
            await pipe.execute()

    async def aclose(self) -> None:
        """Close every key's connections."""
        for member in self.members:
            await member.http.aclose()
