"""The shared TikHub circuit breaker: opens on repeated failures, probes, closes; holds bad keys."""

from datetime import timedelta

import httpx
import pytest
import respx
from redis.asyncio import Redis

from services.collector.breaker import BreakerState, describe_breaker
from services.collector.collect import Collector, Deferred, Outcome
from services.collector.metrics import CollectorMetrics
from services.collector.tikhub import PROFILE_V1, PROFILE_V3
from shared.models import TaskType
from shared.redis_keys import RedisKeys
from shared.settings import Settings
from shared.tikhub_usage import key_fingerprint
from tests.collector.conftest import FakeClock
from tests.collector.support import (
    Sessions,
    failure,
    flat_profile,
    influencer_rows,
    make_task,
    slot_now,
    success,
)

DOWN = httpx.Response(503, json=failure(503, "Service unavailable"))
UP = httpx.Response(200, json=success(flat_profile()))


@pytest.fixture
def tikhub_down(tikhub: respx.MockRouter) -> respx.MockRouter:
    for path in (PROFILE_V1, PROFILE_V3):
        tikhub.get(path, name=path).return_value = DOWN
    return tikhub


def breaker_gauge(metrics: CollectorMetrics) -> float | None:
    return metrics.registry.get_sample_value("collector_tikhub_breaker_state")


def set_tikhub(tikhub: respx.MockRouter, answer: httpx.Response) -> None:
    for path in (PROFILE_V1, PROFILE_V3):
        tikhub.routes[path].return_value = answer


async def hourly_task(sessions: Sessions, username: str) -> str:
    # Hourly, so that a job may wait out a 30 s cool-off instead of giving up its slot.
    return (await make_task(sessions, TaskType.INFLUENCER, username, interval_seconds=3600)).id


async def test_repeated_failures_open_it_then_one_probe_closes_it(
    collector: Collector,
    collector_settings: Settings,
    sessions: Sessions,
    tikhub_down: respx.MockRouter,
    clock: FakeClock,
    metrics: CollectorMetrics,
) -> None:
    tasks = [await hourly_task(sessions, f"user{n}") for n in range(4)]
    slot = slot_now()
    # Two collections fail after their retries: the threshold in these tests.
    for task_id in tasks[:2]:
        assert await collector.collect(task_id, slot, job_try=1) is Outcome.FAILED
    calls = tikhub_down.calls.call_count

    with pytest.raises(Deferred) as deferred:
        await collector.collect(tasks[2], slot, job_try=1)
    assert deferred.value.reason == "breaker"
    assert deferred.value.seconds == pytest.approx(
        collector_settings.collector_breaker_cooloff_seconds
    )
    assert tikhub_down.calls.call_count == calls
    assert breaker_gauge(metrics) == BreakerState.OPEN

    # After the cool-off one job probes; while it is out, the others keep waiting.
    clock.advance(collector_settings.collector_breaker_cooloff_seconds + 1)
    assert (await collector.pool.members[0].breaker.admit()).state is BreakerState.HALF_OPEN
    with pytest.raises(Deferred):
        await collector.collect(tasks[3], slot, job_try=1)

    # The probe's lease runs out (the probe never reported back): the next job probes, succeeds,
    # and the breaker closes for everyone.
    clock.advance(collector_settings.tikhub_timeout_seconds + 1)
    set_tikhub(tikhub_down, UP)
    assert await collector.collect(tasks[2], slot, job_try=2) is Outcome.LIVE
    assert await collector.collect(tasks[3], slot, job_try=2) is Outcome.LIVE
    assert len(await influencer_rows(sessions)) == 2
    assert breaker_gauge(metrics) == BreakerState.CLOSED


async def test_a_failed_probe_opens_it_again(
    collector: Collector,
    collector_settings: Settings,
    sessions: Sessions,
    tikhub_down: respx.MockRouter,
    clock: FakeClock,
) -> None:
    tasks = [await hourly_task(sessions, f"user{n}") for n in range(3)]
    slot = slot_now()
    for task_id in tasks[:2]:
        await collector.collect(task_id, slot, job_try=1)
    clock.advance(collector_settings.collector_breaker_cooloff_seconds + 1)

    assert await collector.collect(tasks[2], slot, job_try=1) is Outcome.FAILED  # the probe

    admission = await collector.pool.members[0].breaker.admit()
    assert admission.state is BreakerState.OPEN
    assert admission.retry_in == pytest.approx(collector_settings.collector_breaker_cooloff_seconds)


async def test_a_success_resets_the_count_of_failures(
    collector: Collector, sessions: Sessions, tikhub_down: respx.MockRouter
) -> None:
    tasks = [await hourly_task(sessions, f"user{n}") for n in range(3)]
    slot = slot_now()
    await collector.collect(tasks[0], slot, job_try=1)
    set_tikhub(tikhub_down, UP)
    await collector.collect(tasks[1], slot, job_try=1)
    set_tikhub(tikhub_down, DOWN)

    # One failure after a success is the first of a new run, not the second of the old one.
    assert await collector.collect(tasks[2], slot, job_try=1) is Outcome.FAILED
    assert (await collector.pool.members[0].breaker.admit()).state is BreakerState.CLOSED


async def test_a_rejected_key_keeps_it_open_until_an_operator_clears_it(
    collector: Collector,
    collector_settings: Settings,
    sessions: Sessions,
    tikhub: respx.MockRouter,
    clock: FakeClock,
    redis: Redis,
    keys: RedisKeys,
    metrics: CollectorMetrics,
) -> None:
    v1 = tikhub.get(PROFILE_V1)
    v1.return_value = httpx.Response(401, json=failure(401, "Authentication failed"))
    tasks = [await hourly_task(sessions, f"user{n}") for n in range(2)]
    slot = slot_now()
    with pytest.raises(Deferred):
        await collector.collect(tasks[0], slot, job_try=1)

    clock.advance(24 * 3600)  # no cool-off ends it
    with pytest.raises(Deferred) as deferred:
        await collector.collect(tasks[1], slot, job_try=1)
    assert "HTTP 401" in str(deferred.value)
    assert v1.call_count == 1
    assert (
        metrics.registry.get_sample_value("collector_tikhub_breaker_state")
        == BreakerState.CREDENTIALS
    )
    api_key = collector_settings.tikhub_api_key.get_secret_value()
    description = await describe_breaker(
        redis, keys.tikhub_breaker(key_fingerprint(api_key)), api_key=api_key, now=clock.now
    )
    assert "API key was rejected" in description

    assert await collector.pool.members[0].breaker.clear()
    v1.return_value = UP
    assert await collector.collect(tasks[1], slot, job_try=2) is Outcome.LIVE


async def test_a_process_with_a_new_key_probes_past_the_old_keys_rejection(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter, redis: Redis
) -> None:
    tikhub.get(PROFILE_V1).return_value = UP
    breaker = collector.pool.members[0].breaker
    await breaker.record_rejected_credentials("TikHub: HTTP 401: old key")
    # Another deployment's process, still on the old key, wrote its fingerprint; this one's
    # key differs, as after a rotation.
    await redis.hset(breaker.key, "credential", "fingerprint-of-the-old-key")  # type: ignore[misc]  # redis-py types hset as maybe-sync
    task_id = await hourly_task(sessions, "instagram")

    assert await collector.collect(task_id, slot_now(), job_try=1) is Outcome.LIVE
    assert await redis.exists(breaker.key) == 0


async def test_an_open_breaker_past_the_slots_deadline_ends_the_slot(
    collector: Collector, sessions: Sessions, tikhub_down: respx.MockRouter
) -> None:
    tasks = [await make_task(sessions, TaskType.INFLUENCER, f"user{n}") for n in range(3)]
    slot = slot_now() - timedelta(seconds=5)
    for task in tasks[:2]:
        await collector.collect(task.id, slot, job_try=1)
    calls = tikhub_down.calls.call_count

    # A 30 s task cannot wait out a 30 s cool-off: the slot is dropped, without a row.
    assert await collector.collect(tasks[2].id, slot, job_try=1) is Outcome.DROPPED
    assert tikhub_down.calls.call_count == calls
    assert await influencer_rows(sessions) == []
