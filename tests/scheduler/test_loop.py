"""The loop: drains every due slot per tick, shares work between replicas, outlives outages."""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from sqlalchemy import func, select

from services.scheduler.connections import open_database, open_redis
from services.scheduler.dispatcher import BatchResult, Dispatcher
from services.scheduler.health import Heartbeat
from services.scheduler.loop import SchedulerLoop, SlotDispatcher
from services.scheduler.metrics import SchedulerMetrics
from shared.backoff import Backoff
from shared.db import create_session_factory
from shared.jobs import collect_job_id
from shared.models import Task, utcnow
from shared.redis_keys import RedisKeys
from shared.settings import Settings
from tests.scheduler.support import WAIT_LIMIT_SECONDS, Sessions, insert_tasks, queued_jobs, until

QUICK_RETRIES = Backoff(base=0.01, cap=0.02)

MakeDispatcher = Callable[..., Dispatcher]


def make_loop(
    dispatcher: SlotDispatcher,
    redis: Redis,
    keys: RedisKeys,
    metrics: SchedulerMetrics,
    *,
    replica: str = "test",
    tick_seconds: float = 0.05,
) -> SchedulerLoop:
    heartbeat = Heartbeat(redis, keys, ttl_seconds=30, replica=replica)
    return SchedulerLoop(
        dispatcher, heartbeat, metrics, tick_seconds=tick_seconds, backoff=QUICK_RETRIES
    )


@asynccontextmanager
async def running(*loops: SchedulerLoop) -> AsyncIterator[None]:
    """Run the loops in the background; stop them (and re-raise their errors) on exit."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(loop.run(stop)) for loop in loops]
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), WAIT_LIMIT_SECONDS)


async def none_due(sessions: Sessions) -> bool:
    async with sessions() as session:
        due = await session.scalar(
            select(func.count()).select_from(Task).where(Task.next_run_at <= utcnow())
        )
    return due == 0


async def has_beaten(heartbeat: Heartbeat) -> bool:
    return await heartbeat.age() is not None


async def test_a_tick_keeps_claiming_while_batches_come_back_full(
    make_dispatcher: MakeDispatcher,
    scheduler_sessions: Sessions,
    queue_redis: Redis,
    keys: RedisKeys,
    metrics: SchedulerMetrics,
) -> None:
    await insert_tasks(scheduler_sessions, 25, next_run_at=utcnow())
    loop = make_loop(make_dispatcher(batch_size=10), queue_redis, keys, metrics)

    assert await loop.tick(asyncio.Event()) == BatchResult(claimed=25, enqueued=25)
    assert len(await queued_jobs(queue_redis, keys)) == 25


async def test_two_schedulers_together_enqueue_every_slot_exactly_once(
    make_dispatcher: MakeDispatcher,
    scheduler_sessions: Sessions,
    settings: Settings,
    queue_redis: Redis,
    keys: RedisKeys,
) -> None:
    slot = utcnow() - timedelta(seconds=1)
    task_ids = await insert_tasks(
        scheduler_sessions, 5_000, next_run_at=slot, interval_seconds=3600
    )
    # A second process: its own engine, Redis client and metrics.
    other_engine = open_database(settings)
    other_redis = open_redis(settings)
    first_metrics = SchedulerMetrics(CollectorRegistry())
    second_metrics = SchedulerMetrics(CollectorRegistry())
    first = make_loop(
        make_dispatcher(batch_size=250, metrics=first_metrics),
        queue_redis,
        keys,
        first_metrics,
        replica="first",
    )
    second = make_loop(
        make_dispatcher(
            batch_size=250,
            sessions=create_session_factory(other_engine),
            redis=other_redis,
            metrics=second_metrics,
        ),
        other_redis,
        keys,
        second_metrics,
        replica="second",
    )
    try:
        async with running(first, second):
            await until(lambda: none_due(scheduler_sessions))
    finally:
        await other_redis.aclose()
        await other_engine.dispose()

    job_ids = [job.job_id for job in await queued_jobs(queue_redis, keys)]
    assert sorted(job_ids) == sorted(collect_job_id(task_id, slot) for task_id in task_ids)
    dispatched = [
        metrics.registry.get_sample_value("scheduler_slots_dispatched_total")
        for metrics in (first_metrics, second_metrics)
    ]
    refused = [
        metrics.registry.get_sample_value("scheduler_duplicates_refused_total")
        for metrics in (first_metrics, second_metrics)
    ]
    # Neither claimed a slot the other held: had they, arq would have refused the repeats.
    assert sum(value or 0 for value in dispatched) == 5_000
    assert refused == [0, 0]


class Recovering:
    """A dispatcher whose database or Redis is down for the first few ticks."""

    def __init__(self, down: Dispatcher, up: Dispatcher, *, failures: int) -> None:
        self.down = down
        self.up = up
        self.failures_left = failures
        self.batch_size = up.batch_size

    async def recover(self, *, now: datetime) -> BatchResult:
        # The first step of each tick, so the one that meets the outage.
        if self.failures_left:
            self.failures_left -= 1
            return await self.down.recover(now=now)
        return await self.up.recover(now=now)

    async def dispatch_batch(self, *, now: datetime) -> BatchResult:
        return await self.up.dispatch_batch(now=now)


@pytest.mark.parametrize("outage", ["database", "redis"])
async def test_the_loop_outlives_an_outage_and_then_dispatches_the_waiting_slot(
    outage: str,
    make_dispatcher: MakeDispatcher,
    scheduler_sessions: Sessions,
    queue_redis: Redis,
    keys: RedisKeys,
    metrics: SchedulerMetrics,
) -> None:
    slot = utcnow() - timedelta(seconds=1)
    [task_id] = await insert_tasks(scheduler_sessions, 1, next_run_at=slot)
    dead_engine = open_database(Settings(database_url="mysql+asyncmy://root@127.0.0.1:1/gone"))
    dead_redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    down = (
        make_dispatcher(sessions=create_session_factory(dead_engine))
        if outage == "database"
        else make_dispatcher(redis=dead_redis)
    )
    loop = make_loop(Recovering(down, make_dispatcher(), failures=3), queue_redis, keys, metrics)
    try:
        async with running(loop):
            await until(lambda: none_due(scheduler_sessions))
    finally:
        await dead_redis.aclose()
        await dead_engine.dispose()

    assert metrics.registry.get_sample_value("scheduler_tick_failures_total") == 3
    assert [job.args for job in await queued_jobs(queue_redis, keys)] == [(task_id, slot)]


async def test_the_heartbeat_is_fresh_while_the_loop_runs_and_stop_ends_it(
    dispatcher: Dispatcher, queue_redis: Redis, keys: RedisKeys, metrics: SchedulerMetrics
) -> None:
    loop = make_loop(dispatcher, queue_redis, keys, metrics, tick_seconds=3600)
    heartbeat = loop.heartbeat
    assert await heartbeat.age() is None

    async with running(loop):
        await until(lambda: has_beaten(heartbeat))
    # The loop returned although its tick is an hour: a stop cuts the wait short.
    age = await heartbeat.age()
    assert age is not None
    assert age < heartbeat.ttl_seconds


def test_backoff_doubles_up_to_its_cap_with_jitter() -> None:
    backoff = Backoff(base=0.5, cap=10.0)
    assert 0.25 <= backoff.delay(1) <= 0.5
    assert 0.5 <= backoff.delay(2) <= 1.0
    assert all(5.0 <= backoff.delay(failures) <= 10.0 for failures in (6, 50, 10_000))
