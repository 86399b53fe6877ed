"""One batch: due slots become queued jobs and the tasks move to their next slot."""

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from services.scheduler.dispatcher import BatchResult, Dispatcher
from services.scheduler.metrics import SchedulerMetrics
from shared.jobs import COLLECT_FUNCTION, collect_job_id
from shared.models import TaskStatus, TaskType, utcnow
from shared.redis_keys import RedisKeys
from shared.repositories.tasks import TaskRepository
from tests.scheduler.support import Sessions, insert_tasks, queued_jobs


async def next_run_at(sessions: Sessions, task_id: str) -> datetime:
    async with sessions() as session:
        task = await TaskRepository(session).get(task_id)
    assert task is not None
    return task.next_run_at


async def test_a_due_task_is_enqueued_once_and_moves_to_its_next_slot(
    dispatcher: Dispatcher,
    scheduler_sessions: Sessions,
    queue_redis: Redis,
    keys: RedisKeys,
    metrics: SchedulerMetrics,
) -> None:
    now = utcnow()
    async with scheduler_sessions.begin() as session:
        task = await TaskRepository(session).create(
            TaskType.INFLUENCER, "natgeo", interval_seconds=30, now=now
        )

    assert await dispatcher.dispatch_batch(now=now) == BatchResult(claimed=1, enqueued=1)
    assert await dispatcher.dispatch_batch(now=now + timedelta(seconds=29)) == BatchResult()

    [job] = await queued_jobs(queue_redis, keys)
    assert job.job_id == collect_job_id(task.id, now)
    assert (job.function, job.args) == (COLLECT_FUNCTION, (task.id, now))
    scheduled_for = job.args[1]
    assert isinstance(scheduled_for, datetime)
    assert scheduled_for.tzinfo is not None
    assert await next_run_at(scheduler_sessions, task.id) == now + timedelta(seconds=30)
    assert metrics.registry.get_sample_value("scheduler_slots_dispatched_total") == 1
    assert metrics.registry.get_sample_value("scheduler_lateness_seconds_count") == 1


async def test_paused_stopped_and_future_tasks_are_never_enqueued(
    dispatcher: Dispatcher, scheduler_sessions: Sessions, queue_redis: Redis, keys: RedisKeys
) -> None:
    now = utcnow()
    due = now - timedelta(minutes=5)
    await insert_tasks(scheduler_sessions, 3, next_run_at=due, status=TaskStatus.PAUSED)
    await insert_tasks(scheduler_sessions, 3, next_run_at=due, status=TaskStatus.STOPPED)
    await insert_tasks(scheduler_sessions, 3, next_run_at=now + timedelta(seconds=1))

    assert await dispatcher.dispatch_batch(now=now) == BatchResult()
    assert await queued_jobs(queue_redis, keys) == []


async def test_created_resumed_and_reactivated_tasks_are_picked_up_on_the_next_tick(
    dispatcher: Dispatcher, scheduler_sessions: Sessions, queue_redis: Redis, keys: RedisKeys
) -> None:
    created = utcnow()
    async with scheduler_sessions.begin() as session:
        task_id = (
            await TaskRepository(session).create(
                TaskType.POST, "CxYQJO8xuC6", interval_seconds=3600, now=created
            )
        ).id
    assert (await dispatcher.dispatch_batch(now=created)).enqueued == 1

    async def change(status: TaskStatus, at: datetime) -> None:
        async with scheduler_sessions.begin() as session:
            tasks = TaskRepository(session)
            task = await tasks.get(task_id)
            assert task is not None
            if status is TaskStatus.ACTIVE and task.status is TaskStatus.STOPPED:
                await tasks.reactivate(task, interval_seconds=1800, now=at)
            else:
                resume_at = at if status is TaskStatus.ACTIVE else None
                await tasks.set_status(task, status, now=at, next_run_at=resume_at)

    paused = created + timedelta(minutes=10)
    await change(TaskStatus.PAUSED, paused)
    assert await dispatcher.dispatch_batch(now=created + timedelta(hours=2)) == BatchResult()

    resumed = created + timedelta(hours=2, seconds=1)
    await change(TaskStatus.ACTIVE, resumed)
    assert (await dispatcher.dispatch_batch(now=resumed)).enqueued == 1

    await change(TaskStatus.STOPPED, resumed + timedelta(minutes=1))
    assert await dispatcher.dispatch_batch(now=resumed + timedelta(hours=5)) == BatchResult()
    reactivated = resumed + timedelta(hours=5, seconds=1)
    await change(TaskStatus.ACTIVE, reactivated)
    assert (await dispatcher.dispatch_batch(now=reactivated)).enqueued == 1

    slots = [job.args[1] for job in await queued_jobs(queue_redis, keys)]
    assert sorted(slots) == [created, resumed, reactivated]  # type: ignore[type-var]


async def test_after_ten_missed_slots_a_task_runs_once_and_stays_on_its_grid(
    dispatcher: Dispatcher, scheduler_sessions: Sessions, queue_redis: Redis, keys: RedisKeys
) -> None:
    now = utcnow()
    first_missed = now - timedelta(seconds=10 * 30 + 5)
    [task_id] = await insert_tasks(
        scheduler_sessions, 1, next_run_at=first_missed, interval_seconds=30
    )

    assert (await dispatcher.dispatch_batch(now=now)).enqueued == 1
    assert await dispatcher.dispatch_batch(now=now) == BatchResult()

    [job] = await queued_jobs(queue_redis, keys)
    assert job.args == (task_id, first_missed)
    next_slot = await next_run_at(scheduler_sessions, task_id)
    assert next_slot == first_missed + timedelta(seconds=11 * 30)
    assert now < next_slot <= now + timedelta(seconds=30)


async def test_a_crash_between_enqueue_and_commit_loses_no_slot_and_queues_no_duplicate(
    dispatcher: Dispatcher,
    scheduler_sessions: Sessions,
    queue_redis: Redis,
    keys: RedisKeys,
    metrics: SchedulerMetrics,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = utcnow()
    [task_id] = await insert_tasks(scheduler_sessions, 1, next_run_at=now)

    async def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("process killed before commit")

    with monkeypatch.context() as patch:
        patch.setattr(TaskRepository, "advance", crash)
        with pytest.raises(RuntimeError, match="killed"):
            await dispatcher.dispatch_batch(now=now)
    # The job went out before the crash, and the claim was rolled back: the task is still due.
    assert [job.args for job in await queued_jobs(queue_redis, keys)] == [(task_id, now)]
    assert await next_run_at(scheduler_sessions, task_id) == now

    assert await dispatcher.dispatch_batch(now=now) == BatchResult(claimed=1, refused=1)
    assert [job.args for job in await queued_jobs(queue_redis, keys)] == [(task_id, now)]
    assert await next_run_at(scheduler_sessions, task_id) == now + timedelta(seconds=30)
    assert metrics.registry.get_sample_value("scheduler_duplicates_refused_total") == 1
    assert metrics.registry.get_sample_value("scheduler_slots_dispatched_total") == 1


async def test_a_failed_enqueue_leaves_the_task_due(
    make_dispatcher: Callable[..., Dispatcher],
    scheduler_sessions: Sessions,
    queue_redis: Redis,
    keys: RedisKeys,
) -> None:
    now = utcnow()
    [task_id] = await insert_tasks(scheduler_sessions, 1, next_run_at=now)
    redis_down = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    try:
        with pytest.raises(RedisConnectionError):
            await make_dispatcher(redis=redis_down).dispatch_batch(now=now)
    finally:
        await redis_down.aclose()
    assert await next_run_at(scheduler_sessions, task_id) == now

    assert (await make_dispatcher().dispatch_batch(now=now)).enqueued == 1
    assert [job.args for job in await queued_jobs(queue_redis, keys)] == [(task_id, now)]
