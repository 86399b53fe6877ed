"""Helpers of the scheduler tests: put tasks in the database, read the jobs arq holds."""

import asyncio
import pickle
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from arq.constants import job_key_prefix
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.models import TaskStatus, utcnow
from shared.redis_keys import RedisKeys
from shared.repositories.tasks import TaskRepository

Sessions = async_sessionmaker[AsyncSession]
WAIT_LIMIT_SECONDS = 60.0


@dataclass(frozen=True)
class QueuedJob:
    """A job as arq stored it."""

    job_id: str
    function: str
    args: tuple[object, ...]
    enqueued_at_ms: int
    score: float


async def queued_jobs(redis: Redis, keys: RedisKeys) -> list[QueuedJob]:
    """Every job in the collector queue, oldest first."""
    jobs = []
    for raw_id, score in await redis.zrange(keys.collector_queue, 0, -1, withscores=True):
        job_id = raw_id.decode()
        stored = pickle.loads(await redis.get(job_key_prefix + job_id))  # noqa: S301 - our own test data
        jobs.append(QueuedJob(job_id, stored["f"], stored["a"], stored["et"], score))
    return jobs


async def insert_tasks(
    sessions: Sessions,
    count: int,
    *,
    next_run_at: datetime,
    interval_seconds: int = 30,
    status: TaskStatus = TaskStatus.ACTIVE,
) -> list[str]:
    """Bulk-insert `count` influencer tasks due at `next_run_at`; their ids."""
    async with sessions.begin() as session:
        return await TaskRepository(session).create_many(
            [f"user_{uuid.uuid4().hex[:12]}" for _ in range(count)],
            interval_seconds=interval_seconds,
            next_run_at=[next_run_at] * count,
            now=utcnow(),
            status=status,
        )


async def until(condition: Callable[[], Awaitable[bool]]) -> None:
    """Poll until `condition` holds (what it waits for runs in the background)."""
    async with asyncio.timeout(WAIT_LIMIT_SECONDS):
        while True:
            if await condition():
                return
            await asyncio.sleep(0.02)
