"""What Redis loses, the scheduler puts back from MySQL: slots in flight and pause flags."""

import asyncio
from datetime import datetime, timedelta

from arq.connections import ArqRedis
from arq.constants import job_key_prefix, result_key_prefix
from arq.worker import Worker, func
from redis.asyncio import Redis

from services.scheduler.dispatcher import BatchResult, Dispatcher
from services.scheduler.metrics import SchedulerMetrics
from shared.jobs import COLLECT_FUNCTION, collect_job_id
from shared.models import Task, TaskStatus, utcnow
from shared.redis_keys import RedisKeys
from shared.repositories.tasks import TaskRepository
from shared.settings import Settings
from tests.scheduler.support import Sessions, insert_tasks, queued_jobs


async def stored(sessions: Sessions, task_id: str) -> Task:
    async with sessions() as session:
        task = await TaskRepository(session).get(task_id)
    assert task is not None
    return task


async def one_slot_in_flight(
    dispatcher: Dispatcher, sessions: Sessions
) -> tuple[datetime, datetime, str]:
    """A task of a 300 s interval whose slot, due a second ago, was just dispatched: the
    dispatch's instant, the slot and the task."""
    now = utcnow()
    slot = now - timedelta(seconds=1)
    [task_id] = await insert_tasks(sessions, 1, next_run_at=slot, interval_seconds=300)
    await dispatcher.dispatch_batch(now=now)
    return now, slot, task_id


async def lose_every_job(redis: Redis, keys: RedisKeys) -> None:
    """What a Redis restarted without persistence leaves of the queue: nothing."""
    for job in await queued_jobs(redis, keys):
        await redis.delete(job_key_prefix + job.job_id)
    await redis.delete(keys.collector_queue)


async def test_a_slot_whose_job_vanished_is_queued_again_after_its_lease(
    dispatcher: Dispatcher,
    scheduler_sessions: Sessions,
    queue_redis: Redis,
    keys: RedisKeys,
    metrics: SchedulerMetrics,
) -> None:
    now, slot, task_id = await one_slot_in_flight(dispatcher, scheduler_sessions)
    task = await stored(scheduler_sessions, task_id)
    # The lease (60 s) is shorter than half the interval.
    assert (task.claimed_slot, task.claim_expires_at) == (slot, now + timedelta(seconds=60))

    await lose_every_job(queue_redis, keys)
    assert await dispatcher.recover(now=now + timedelta(seconds=59)) == BatchResult()
    assert await dispatcher.recover(now=now + timedelta(seconds=60)) == BatchResult(
        claimed=1, enqueued=1
    )

    [job] = await queued_jobs(queue_redis, keys)
    assert (job.job_id, job.args) == (collect_job_id(task_id, slot), (task_id, slot))
    assert metrics.registry.get_sample_value("scheduler_slots_recovered_total") == 1
    # Checked again a lease later; the job still queued, nothing is added.
    later = now + timedelta(seconds=120)
    assert await dispatcher.recover(now=later - timedelta(seconds=1)) == BatchResult()
    assert await dispatcher.recover(now=later) == BatchResult(claimed=1, refused=1)
    assert len(await queued_jobs(queue_redis, keys)) == 1


async def never_runs(ctx: dict[str, object]) -> None:
    raise AssertionError("a job without data is not run")


async def test_a_slot_whose_job_arq_wrote_off_as_expired_is_queued_again(
    dispatcher: Dispatcher,
    scheduler_sessions: Sessions,
    queue_redis: Redis,
    keys: RedisKeys,
    settings: Settings,
) -> None:
    now, slot, task_id = await one_slot_in_flight(dispatcher, scheduler_sessions)
    job_id = collect_job_id(task_id, slot)
    await lose_every_job(queue_redis, keys)
    # The job was running when Redis restarted empty, and deferred itself: arq's retry raises
    # its score in the queue, which puts the id back on the emptied queue without its data.
    await queue_redis.zincrby(keys.collector_queue, 2000, job_id)
    arq_redis = ArqRedis.from_url(settings.redis_url)
    worker = Worker(
        functions=[func(never_runs, name=COLLECT_FUNCTION)],
        redis_pool=arq_redis,
        queue_name=keys.collector_queue,
        keep_result=60,
        handle_signals=False,
    )
    try:
        await worker.start_jobs([job_id.encode()])
        await asyncio.gather(*worker.tasks.values())
    finally:
        await arq_redis.aclose()
    # arq found no job, wrote it off as expired and keeps that result for a minute.
    assert worker.jobs_failed == 1
    assert await queue_redis.exists(result_key_prefix + job_id)
    assert await queued_jobs(queue_redis, keys) == []

    assert await dispatcher.recover(now=now + timedelta(seconds=60)) == BatchResult(
        claimed=1, enqueued=1
    )
    [job] = await queued_jobs(queue_redis, keys)
    assert (job.job_id, job.args) == (job_id, (task_id, slot))


async def test_a_short_interval_is_checked_before_its_next_slot_replaces_the_claim(
    dispatcher: Dispatcher, scheduler_sessions: Sessions
) -> None:
    now = utcnow()
    [task_id] = await insert_tasks(scheduler_sessions, 1, next_run_at=now, interval_seconds=30)
    await dispatcher.dispatch_batch(now=now)

    task = await stored(scheduler_sessions, task_id)
    assert task.claim_expires_at == now + timedelta(seconds=15)
    assert task.next_run_at == now + timedelta(seconds=30)


async def test_paused_and_stopped_tasks_slots_are_not_brought_back(
    dispatcher: Dispatcher, scheduler_sessions: Sessions, queue_redis: Redis, keys: RedisKeys
) -> None:
    now = utcnow()
    ids = await insert_tasks(scheduler_sessions, 2, next_run_at=now, interval_seconds=300)
    await dispatcher.dispatch_batch(now=now)
    await lose_every_job(queue_redis, keys)
    async with scheduler_sessions.begin() as session:
        tasks = TaskRepository(session)
        await tasks.set_status_many(ids[:1], TaskStatus.PAUSED, now=now)
        await tasks.set_status_many(ids[1:], TaskStatus.STOPPED, now=now)

    assert await dispatcher.recover(now=now + timedelta(minutes=5)) == BatchResult()
    assert await queued_jobs(queue_redis, keys) == []


async def test_pause_flags_are_restored_from_mysql_once_redis_has_lost_them(
    dispatcher: Dispatcher, scheduler_sessions: Sessions, queue_redis: Redis, keys: RedisKeys
) -> None:
    now = utcnow()
    paused = await insert_tasks(scheduler_sessions, 3, next_run_at=now, status=TaskStatus.PAUSED)
    [active] = await insert_tasks(scheduler_sessions, 1, next_run_at=now + timedelta(hours=1))

    await dispatcher.recover(now=now)
    assert [await queue_redis.exists(keys.pause(task_id)) for task_id in paused] == [1, 1, 1]
    assert await queue_redis.exists(keys.pause(active)) == 0

    # Only a Redis that lost the mark is refilled: a resume's cleared flag stays cleared.
    await queue_redis.delete(keys.pause(paused[0]))
    await dispatcher.recover(now=now)
    assert await queue_redis.exists(keys.pause(paused[0])) == 0

    await queue_redis.delete(keys.pause_flags_restored, *(keys.pause(t) for t in paused))
    await dispatcher.recover(now=now)
    assert [await queue_redis.exists(keys.pause(task_id)) for task_id in paused] == [1, 1, 1]
