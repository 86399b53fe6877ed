"""The collect job end to end: skips, idempotence, cache invalidation, and the arq queue path."""

import asyncio
from datetime import timedelta

import pytest
import respx
from arq.connections import ArqRedis
from arq.worker import Retry, Worker
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from sqlalchemy.exc import OperationalError

from services.collector.collect import Collector, Deferred, Outcome
from services.collector.metrics import CollectorMetrics
from services.collector.tikhub import POST_BY_URL, PROFILE_V1
from services.collector.worker import WorkerSettings, build_collector, collect, worker_options
from shared.db import create_engine, create_session_factory
from shared.jobs import COLLECT_FUNCTION, collect_job_id
from shared.models import Source, TaskHealth, TaskStatus, TaskType, utcnow
from shared.redis_keys import RedisKeys
from shared.repositories.tasks import TaskRepository
from shared.settings import Settings
from tests.collector.support import (
    BIG_USER_ID,
    Sessions,
    flat_profile,
    influencer_rows,
    items_post,
    make_task,
    post_rows,
    reload,
    slot_now,
    success,
)

PROFILE = success(flat_profile())


async def book_rate_budget(redis: Redis, collector: Collector, *, seconds: int) -> None:
    """As if every process's TikHub calls for the next `seconds` were already booked."""
    booked_until = (await redis.time())[0] + seconds
    await redis.set(collector.pool.members[0].limiter.key, f"{booked_until * 1_000_000}")


async def test_a_paused_task_makes_no_tikhub_call(
    collector: Collector,
    sessions: Sessions,
    tikhub: respx.MockRouter,
    redis: Redis,
    keys: RedisKeys,
    metrics: CollectorMetrics,
) -> None:
    v1 = tikhub.get(PROFILE_V1).respond(200, json=PROFILE)
    task = await make_task(sessions, TaskType.INFLUENCER, "instagram")
    await redis.set(keys.pause(task.id), "1")

    assert await collector.collect(task.id, slot_now(), job_try=1) is Outcome.SKIPPED

    assert v1.call_count == 0
    assert await influencer_rows(sessions) == []
    assert (
        metrics.registry.get_sample_value("collector_collections_total", {"outcome": "skipped"})
        == 1
    )


@pytest.mark.parametrize("status", [TaskStatus.PAUSED, TaskStatus.STOPPED])
async def test_a_task_not_active_in_mysql_makes_no_tikhub_call(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter, status: TaskStatus
) -> None:
    v1 = tikhub.get(PROFILE_V1).respond(200, json=PROFILE)
    task = await make_task(sessions, TaskType.INFLUENCER, "instagram")
    async with sessions.begin() as session:
        stored = await TaskRepository(session).get(task.id)
        assert stored is not None
        await TaskRepository(session).set_status(stored, status, now=utcnow())

    assert await collector.collect(task.id, slot_now(), job_try=1) is Outcome.SKIPPED
    assert await collector.collect("no-such-task", slot_now(), job_try=1) is Outcome.SKIPPED
    assert v1.call_count == 0


async def test_the_same_job_run_twice_writes_one_row_and_calls_tikhub_once(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter
) -> None:
    v1 = tikhub.get(PROFILE_V1).respond(200, json=PROFILE)
    task = await make_task(sessions, TaskType.INFLUENCER, "instagram")
    slot = slot_now()

    assert await collector.collect(task.id, slot, job_try=1) is Outcome.LIVE
    assert await collector.collect(task.id, slot, job_try=2) is Outcome.SKIPPED

    assert len(await influencer_rows(sessions)) == 1
    assert v1.call_count == 1


async def test_a_new_row_deletes_the_apis_cached_history(
    collector: Collector,
    sessions: Sessions,
    tikhub: respx.MockRouter,
    redis: Redis,
    keys: RedisKeys,
) -> None:
    tikhub.get(PROFILE_V1).respond(200, json=PROFILE)
    reel = items_post(media_type=2, like_count=5, comment_count=1, play_count=9)
    tikhub.get(POST_BY_URL).respond(200, json=success(reel))
    profile_task = await make_task(sessions, TaskType.INFLUENCER, "instagram")
    post_task = await make_task(sessions, TaskType.POST, "CxYQJO8xuC6")
    profile_cache = keys.influencer_history(int(BIG_USER_ID))
    post_cache = keys.post_history("CxYQJO8xuC6")
    other_cache = keys.post_history("SomeOtherPost")
    for key in (profile_cache, post_cache, other_cache):
        await redis.set(key, b'{"cached": true}')

    await collector.collect(profile_task.id, slot_now(), job_try=1)
    await collector.collect(post_task.id, slot_now(), job_try=1)

    assert await redis.exists(profile_cache, post_cache) == 0
    assert await redis.exists(other_cache) == 1


async def test_a_saturated_rate_budget_defers_the_job_without_calling(
    collector_settings: Settings,
    sessions: Sessions,
    tikhub: respx.MockRouter,
    redis: Redis,
    keys: RedisKeys,
    collector: Collector,
    metrics: CollectorMetrics,
) -> None:
    v1 = tikhub.get(PROFILE_V1).respond(200, json=PROFILE)
    task = await make_task(sessions, TaskType.INFLUENCER, "instagram", interval_seconds=3600)
    await book_rate_budget(redis, collector, seconds=60)

    with pytest.raises(Deferred) as deferred:
        await collector.collect(task.id, slot_now(), job_try=1)

    assert deferred.value.reason == "rate_limit"
    assert (
        55 < deferred.value.seconds < 60 + collector_settings.collector_rate_limit_max_wait_seconds
    )
    assert v1.call_count == 0
    assert (
        metrics.registry.get_sample_value("collector_deferrals_total", {"reason": "rate_limit"})
        == 1
    )


async def test_a_slot_deferred_past_its_next_slot_is_dropped_without_a_row(
    collector: Collector,
    sessions: Sessions,
    tikhub: respx.MockRouter,
    redis: Redis,
    keys: RedisKeys,
    metrics: CollectorMetrics,
) -> None:
    v1 = tikhub.get(PROFILE_V1).respond(200, json=PROFILE)
    task = await make_task(sessions, TaskType.INFLUENCER, "instagram")
    await collector.collect(task.id, slot_now() - timedelta(seconds=10), job_try=1)
    await book_rate_budget(redis, collector, seconds=60)

    # The next slot (30 s later) would be due before the budget frees up.
    assert await collector.collect(task.id, slot_now(), job_try=1) is Outcome.DROPPED

    assert v1.call_count == 1
    # No fallback row passes the old numbers off as this slot's, and TikHub did not fail.
    assert [row.source for row in await influencer_rows(sessions)] == [Source.LIVE]
    stored = await reload(sessions, task.id)
    assert (stored.health, stored.consecutive_failures) == (TaskHealth.OK, 0)
    assert (
        metrics.registry.get_sample_value("collector_collections_total", {"outcome": "dropped"})
        == 1
    )


async def test_a_catch_up_slot_past_its_interval_is_collected_live_when_its_next_slot_is_ahead(
    collector: Collector,
    sessions: Sessions,
    tikhub: respx.MockRouter,
    redis: Redis,
    keys: RedisKeys,
) -> None:
    # The scheduler was down for 40 s: the 30 s task's catch-up slot is 40 s old, and claiming
    # it moved the task's next slot 20 s ahead.
    v1 = tikhub.get(PROFILE_V1).respond(200, json=PROFILE)
    task = await make_task(sessions, TaskType.INFLUENCER, "instagram")
    slot = slot_now() - timedelta(seconds=40)
    async with sessions.begin() as session:
        stored = await TaskRepository(session).get(task.id, lock="update")
        assert stored is not None
        stored.next_run_at = slot + timedelta(seconds=60)
    await book_rate_budget(redis, collector, seconds=3)

    # Its first rate-limit deferral does not end it...
    with pytest.raises(Deferred) as deferred:
        await collector.collect(task.id, slot, job_try=1)
    # ...and when it comes back for the turn it was given, it is collected live.
    await asyncio.sleep(deferred.value.seconds)
    assert await collector.collect(task.id, slot, job_try=2) is Outcome.LIVE

    assert v1.call_count == 1
    [row] = await influencer_rows(sessions)
    assert (row.source, row.scheduled_for) == (Source.LIVE, slot)


async def test_the_job_function_turns_a_deferral_into_an_arq_retry(
    collector: Collector,
    collector_settings: Settings,
    sessions: Sessions,
    redis: Redis,
    keys: RedisKeys,
) -> None:
    task = await make_task(sessions, TaskType.INFLUENCER, "instagram", interval_seconds=3600)
    await book_rate_budget(redis, collector, seconds=60)

    ctx = {
        "collector": collector,
        "settings": collector_settings,
        "redis": redis,
        "job_id": "collect:deferred",
        "job_try": 1,
        "enqueue_time": utcnow(),
    }
    with pytest.raises(Retry):
        await collect(ctx, task.id, slot_now())


# arq 0.28's Worker.close() calls redis-py's deprecated close().
@pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")
async def test_jobs_from_the_queue_are_run_by_the_worker_once_per_slot(
    collector_settings: Settings, sessions: Sessions, tikhub: respx.MockRouter, redis: Redis
) -> None:
    v1 = tikhub.get(PROFILE_V1).respond(200, json=PROFILE)
    reel = items_post(media_type=2, like_count=5, comment_count=1, play_count=9)
    tikhub.get(POST_BY_URL).respond(200, json=success(reel))
    profile_task = await make_task(sessions, TaskType.INFLUENCER, "instagram")
    post_task = await make_task(sessions, TaskType.POST, "CxYQJO8xuC6")
    options = worker_options(collector_settings, CollectorRegistry())
    queue = options["queue_name"]
    slot = slot_now()
    pool = ArqRedis(connection_pool=redis.connection_pool)
    for task_id in (profile_task.id, post_task.id, profile_task.id):
        await pool.enqueue_job(
            COLLECT_FUNCTION,
            task_id,
            slot,
            _job_id=collect_job_id(task_id, slot),
            _queue_name=queue,
        )

    worker = Worker(
        **{**options, "burst": True, "handle_signals": False, "poll_delay": 0.01},
        functions=WorkerSettings.functions,
        on_startup=WorkerSettings.on_startup,
        on_shutdown=WorkerSettings.on_shutdown,
    )
    try:
        assert await worker.run_check() == 2
    finally:
        await worker.close()

    assert v1.call_count == 1
    assert len(await influencer_rows(sessions)) == 1
    assert len(await post_rows(sessions)) == 1
    assert await redis.exists(options["health_check_key"]) == 0  # removed on a clean stop


async def test_an_unreachable_database_defers_the_job_instead_of_losing_the_slot(
    collector_settings: Settings,
    redis: Redis,
    tikhub: respx.MockRouter,
    metrics: CollectorMetrics,
) -> None:
    nowhere = collector_settings.model_copy(
        update={"database_url": "mysql+asyncmy://root@127.0.0.1:1/instagram_monitor"}
    )
    engine = create_engine(nowhere)
    collector = build_collector(
        nowhere, redis=redis, sessions=create_session_factory(engine), metrics=metrics
    )
    try:
        with pytest.raises(Deferred) as deferred:
            await collector.collect("some-task", slot_now(), job_try=1)
        assert deferred.value.reason == "database"

        # An hour later the slot is not worth waiting for any more: the job fails.
        with pytest.raises(OperationalError):
            await collector.collect("some-task", slot_now() - timedelta(hours=2), job_try=1)
    finally:
        await collector.pool.aclose()
        await engine.dispose()
