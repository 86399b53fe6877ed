"""The Redis read-through cache of the default history views, stored as response bytes."""

import uuid

import structlog
from redis.exceptions import RedisError

from services.api.metrics import ApiMetrics
from services.api.redis_batch import RedisBatcher

log = structlog.get_logger()

# A miss takes a lease on the key before reading MySQL and may fill the key only while it
# still holds that lease. The collector deletes the key after each write, lease included, so
# a body read just before a collector's commit is never cached as if it were current.
LEASE_PREFIX = b"lease:"
LEASE_MILLISECONDS = 10_000
PUT_IF_LEASED = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
return false
"""
DELETE_IF_LEASED = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def cached_body(value: bytes | None) -> bytes | None:
    """The body in a value read from a cache key: None for no key, or for a lease on it."""
    return None if value is None or value.startswith(LEASE_PREFIX) else value


class HistoryCache:
    """Gets and puts cached history bodies; a Redis failure is a logged miss, never an error.

    One instance serves one request: after Redis fails once, the request stops asking it.
    """

    def __init__(self, batcher: RedisBatcher, metrics: ApiMetrics) -> None:
        # Reads go through the batcher: concurrent hits share one round trip.
        self.batcher = batcher
        self.redis = batcher.redis
        self.metrics = metrics
        self.available = True

    async def hit(self, key: str, kind: str) -> bytes | None:
        """The cached body under `key`, counted as a hit; None for a miss or a failure, both
        left uncounted and unreported: the read through the cache that follows counts them."""
        if not self.available:
            return None
        try:
            body = cached_body(await self.batcher.get(key))
        except RedisError:
            return None
        if body is not None:
            self.metrics.history_cache.labels(kind, "hit").inc()
        return body

    async def get_or_lease(self, key: str, kind: str) -> tuple[bytes | None, bytes | None]:
        """The cached body under `key`; on a miss, the lease that allows filling it (if won)."""
        if not self.available:
            return None, None
        try:
            body = cached_body(await self.batcher.get(key))
            if body is not None:
                self.metrics.history_cache.labels(kind, "hit").inc()
                return body, None
            self.metrics.history_cache.labels(kind, "miss").inc()
            lease = LEASE_PREFIX + uuid.uuid4().hex.encode()
            won = await self.redis.set(key, lease, px=LEASE_MILLISECONDS, nx=True)
        except RedisError as error:
            self._unavailable(error)
            self.metrics.history_cache.labels(kind, "error").inc()
            return None, None
        return None, lease if won else None

    async def put(self, key: str, body: bytes, *, lease: bytes | None, ttl_seconds: int) -> None:
        """Cache `body` for `ttl_seconds` if this request's lease on `key` still stands."""
        if not self.available or lease is None:
            return
        try:
            put_if_leased = self.redis.register_script(PUT_IF_LEASED)
            await put_if_leased(keys=[key], args=[lease, body, ttl_seconds])
        except RedisError as error:
            self._unavailable(error)

    async def release(self, key: str, lease: bytes | None) -> None:
        """Give up this request's lease on `key` (its target turned out not to exist)."""
        if not self.available or lease is None:
            return
        try:
            await self.redis.register_script(DELETE_IF_LEASED)(keys=[key], args=[lease])
        except RedisError as error:
            self._unavailable(error)

    def _unavailable(self, error: RedisError) -> None:
        self.available = False
        log.warning("api.history_cache_unavailable", error=repr(error))
