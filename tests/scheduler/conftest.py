"""Fixtures of the scheduler tests: its own engine and Redis client, a dispatcher, queued jobs."""

from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from arq.constants import in_progress_key_prefix, job_key_prefix, result_key_prefix
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.scheduler.collector_queue import CollectorQueue
from services.scheduler.connections import open_database, open_redis
from services.scheduler.dispatcher import Dispatcher
from services.scheduler.metrics import SchedulerMetrics
from services.scheduler.pause_flags import PauseFlagRestorer
from shared.db import create_session_factory
from shared.redis_keys import RedisKeys
from shared.settings import Settings

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture(scope="session")
async def scheduler_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine configured as the scheduler process configures its own."""
    engine = open_database(Settings(database_url=database_url))
    yield engine
    await engine.dispose()


@pytest.fixture
def scheduler_sessions(scheduler_engine: AsyncEngine, sessions: Sessions) -> Sessions:
    """The scheduler's sessions; depending on `sessions` empties the tables after the test."""
    return create_session_factory(scheduler_engine)


@pytest.fixture
def metrics() -> SchedulerMetrics:
    return SchedulerMetrics(CollectorRegistry())


@pytest.fixture
async def queue_redis(settings: Settings, keys: RedisKeys, redis: Redis) -> AsyncIterator[Redis]:
    """The scheduler's Redis client; the arq jobs the test queued are deleted afterwards."""
    client = open_redis(settings)
    yield client
    # arq's keys do not carry the deployment prefix, so the `redis` fixture cannot find them.
    job_ids = [job_id.decode() for job_id in await client.zrange(keys.collector_queue, 0, -1)]
    prefixes = (job_key_prefix, result_key_prefix, in_progress_key_prefix)
    if job_ids:
        await client.delete(*(prefix + job_id for job_id in job_ids for prefix in prefixes))
    await client.aclose()


@pytest.fixture
def make_dispatcher(
    scheduler_sessions: Sessions, queue_redis: Redis, keys: RedisKeys, metrics: SchedulerMetrics
) -> Callable[..., Dispatcher]:
    """Builds dispatchers on the test's database and queue (or on the ones given)."""

    def make(
        *,
        batch_size: int = 100,
        sessions: Sessions = scheduler_sessions,
        redis: Redis = queue_redis,
        metrics: SchedulerMetrics = metrics,
    ) -> Dispatcher:
        queue = CollectorQueue(redis, keys.collector_queue, metrics)
        flags = PauseFlagRestorer(redis, keys, sessions)
        return Dispatcher(
            sessions, queue, flags, batch_size=batch_size, claim_lease=timedelta(seconds=60)
        )

    return make


@pytest.fixture
def dispatcher(make_dispatcher: Callable[..., Dispatcher]) -> Dispatcher:
    return make_dispatcher()
