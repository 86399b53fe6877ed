"""The Redis read-through cache of the default history views, stored as response bytes."""

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.api.metrics import ApiMetrics

log = structlog.get_logger()


class HistoryCache:
    """Gets and puts cached history bodies; a Redis failure is a logged miss, never an error.

    One instance serves one request: after Redis fails once, the request stops asking it.
    """

    def __init__(self, redis: "Redis", metrics: ApiMetrics) -> None:
        self.redis = redis
        self.metrics = metrics
        self.available = True

    async def get(self, key: str, kind: str) -> bytes | None:
        """The cached body under `key`, or None on a miss or when Redis does not answer."""
        if not self.available:
            return None
        try:
            body: bytes | None = await self.redis.get(key)
        except RedisError as error:
            self._unavailable(error)
            self.metrics.history_cache.labels(kind, "error").inc()
            return None
        self.metrics.history_cache.labels(kind, "miss" if body is None else "hit").inc()
        return body

    async def put(self, key: str, body: bytes, *, ttl_seconds: int) -> None:
        """Cache `body` for `ttl_seconds`, if Redis answers."""
        if not self.available:
            return
        try:
            await self.redis.set(key, body, ex=ttl_seconds)
        except RedisError as error:
            self._unavailable(error)

    def _unavailable(self, error: RedisError) -> None:
        self.available = False
        log.warning("api.history_cache_unavailable", error=repr(error))
