"""The scheduler's jobs are arq's own: a real arq worker runs them, arq's dedupe holds both ways."""

from datetime import datetime, timedelta
from typing import Any

import pytest
from arq.connections import ArqRedis
from arq.constants import job_key_prefix
from arq.worker import Worker, func
from redis.asyncio import Redis

from services.scheduler.collector_queue import CollectorQueue
from services.scheduler.metrics import SchedulerMetrics
from shared.jobs import COLLECT_FUNCTION, collect_job_id
from shared.models import utcnow
from shared.redis_keys import RedisKeys
from shared.repositories.tasks import DueSlot
from shared.settings import Settings
from tests.scheduler.support import queued_jobs

ONE_DAY_MS = 24 * 60 * 60 * 1000


def slots(count: int) -> list[DueSlot]:
    now = utcnow()
    return [DueSlot(f"task-{index}", now - timedelta(seconds=index)) for index in range(count)]


# arq 0.28's Worker.close() calls redis-py's deprecated close().
@pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")
async def test_a_real_arq_worker_runs_the_enqueued_jobs(
    settings: Settings, keys: RedisKeys, queue_redis: Redis, metrics: SchedulerMetrics
) -> None:
    due = slots(3)
    queue = CollectorQueue(queue_redis, keys.collector_queue, metrics)
    assert (await queue.enqueue(due)).enqueued == 3

    ran: list[tuple[str, datetime]] = []

    async def collect(ctx: dict[str, Any], task_id: str, scheduled_for: datetime) -> None:
        ran.append((task_id, scheduled_for))

    worker = Worker(
        functions=[func(collect, name=COLLECT_FUNCTION)],
        queue_name=keys.collector_queue,
        redis_pool=ArqRedis.from_url(settings.redis_url),
        burst=True,
        handle_signals=False,
        keep_result=0,
        poll_delay=0.01,
    )
    try:
        await worker.async_run()
    finally:
        await worker.close()
    assert (worker.jobs_complete, worker.jobs_failed) == (3, 0)
    assert sorted(ran) == sorted((slot.task_id, slot.scheduled_for) for slot in due)


async def test_arq_and_the_scheduler_refuse_each_others_job_ids(
    settings: Settings, keys: RedisKeys, queue_redis: Redis, metrics: SchedulerMetrics
) -> None:
    by_arq, by_scheduler = slots(2)
    arq = ArqRedis.from_url(settings.redis_url)
    try:
        await arq.enqueue_job(
            COLLECT_FUNCTION,
            by_arq.task_id,
            by_arq.scheduled_for,
            _job_id=collect_job_id(by_arq.task_id, by_arq.scheduled_for),
            _queue_name=keys.collector_queue,
        )
        queue = CollectorQueue(queue_redis, keys.collector_queue, metrics)
        result = await queue.enqueue([by_arq, by_scheduler])
        refused_by_arq = await arq.enqueue_job(
            COLLECT_FUNCTION,
            by_scheduler.task_id,
            by_scheduler.scheduled_for,
            _job_id=collect_job_id(by_scheduler.task_id, by_scheduler.scheduled_for),
            _queue_name=keys.collector_queue,
        )
    finally:
        await arq.aclose()

    assert (result.enqueued, result.refused) == (1, 1)
    assert refused_by_arq is None
    jobs = await queued_jobs(queue_redis, keys)
    assert sorted(job.args for job in jobs) == sorted(
        [(by_arq.task_id, by_arq.scheduled_for), (by_scheduler.task_id, by_scheduler.scheduled_for)]
    )


async def test_jobs_are_queued_now_and_expire_a_day_later_as_arq_queues_them(
    keys: RedisKeys, queue_redis: Redis, metrics: SchedulerMetrics
) -> None:
    before_ms = int(utcnow().timestamp() * 1000)
    [slot] = slots(1)
    await CollectorQueue(queue_redis, keys.collector_queue, metrics).enqueue([slot])

    [job] = await queued_jobs(queue_redis, keys)
    assert job.score == job.enqueued_at_ms >= before_ms
    ttl_ms = await queue_redis.pttl(job_key_prefix + job.job_id)
    assert ONE_DAY_MS - 60_000 < ttl_ms <= ONE_DAY_MS
