"""The process's connections: one database engine and one Redis client, both opened lazily."""

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_engine
from shared.settings import Settings

# A Redis that stops answering must fail the batch (and roll the claim back), not hang the loop.
REDIS_SOCKET_TIMEOUT_SECONDS = 5.0
REDIS_CONNECT_TIMEOUT_SECONDS = 2.0


def open_redis(settings: Settings) -> Redis:
    """The process's one Redis client; it connects lazily, so a Redis that is down is no error."""
    client: Redis = Redis.from_url(
        settings.redis_url,
        socket_timeout=REDIS_SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT_SECONDS,
    )
    return client


def open_database(settings: Settings) -> AsyncEngine:
    """The process's one engine, in READ COMMITTED.

    Under REPEATABLE READ the claim would also lock the index gaps it scans, making the API's
    inserts and resumes wait for a scheduler transaction; READ COMMITTED locks only the rows
    it returns.
    """
    return create_engine(settings, isolation_level="READ COMMITTED")
