"""What the app opens at start-up and closes at shutdown: the engine, sessions and Redis."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.api.api_keys import ApiKeyChecker
from services.api.metrics import ApiMetrics
from services.api.rate_limit import RateLimiter
from services.api.redis_batch import RedisBatcher
from shared.db import create_engine, create_session_factory
from shared.redis_keys import RedisKeys
from shared.settings import Settings

# Redis holds only the cache and flags here: when it stalls, a read should fall back to MySQL
# within a second rather than hang the request.
REDIS_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Runtime:
    """The process's connections and configuration, shared by every request."""

    settings: Settings
    keys: RedisKeys
    metrics: ApiMetrics
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: "Redis"
    batcher: RedisBatcher
    api_keys: ApiKeyChecker
    rate_limiter: RateLimiter


@asynccontextmanager
async def open_runtime(settings: Settings, metrics: ApiMetrics) -> AsyncIterator[Runtime]:
    """Create the engine and Redis client; close them when the block ends."""
    engine = create_engine(settings)
    redis = Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
    )
    keys = RedisKeys(settings.redis_prefix)
    sessions = create_session_factory(engine)
    batcher = RedisBatcher(redis)
    try:
        yield Runtime(
            settings=settings,
            keys=keys,
            metrics=metrics,
            engine=engine,
            sessions=sessions,
            redis=redis,
            batcher=batcher,
            api_keys=ApiKeyChecker(sessions),
            rate_limiter=RateLimiter(
                batcher,
                keys,
                per_second=settings.api_rate_limit_per_second,
                burst=settings.api_rate_limit_burst,
                failures_per_second=settings.api_auth_failures_per_minute / 60,
                failure_burst=settings.api_auth_failure_burst,
            ),
        )
    finally:
        await redis.aclose()
        await engine.dispose()
