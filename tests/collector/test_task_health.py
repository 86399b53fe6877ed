"""Task health as the collector records it: pending, ok, failing, unavailable, and what each
change announces."""

from collections.abc import MutableMapping
from datetime import timedelta
from typing import Any

import httpx
import respx
from redis.asyncio import Redis
from structlog.testing import capture_logs

from services.collector.collect import Collector, Outcome
from services.collector.tikhub import PROFILE_V1, PROFILE_V3
from shared.models import TaskHealth, TaskType
from shared.redis_keys import RedisKeys
from tests.collector.support import (
    Sessions,
    failure,
    flat_profile,
    make_task,
    reload,
    slot_now,
    success,
)

PROFILE = httpx.Response(200, json=success(flat_profile()))
NOT_FOUND = httpx.Response(404, json=failure(404, "User not found."))
DOWN = httpx.Response(500, json=failure(500, "Internal error"))


def health_events(logs: list[MutableMapping[str, Any]]) -> list[object]:
    return [
        entry["webhook_event"]
        for entry in logs
        if entry["event"] == "collector.task_health_changed" and entry["webhook_event"]
    ]


async def test_a_missing_target_is_unavailable_and_retried_ever_more_rarely_until_found(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter
) -> None:
    v1 = tikhub.get(PROFILE_V1)
    v1.return_value = NOT_FOUND
    task = await make_task(sessions, TaskType.INFLUENCER, "gone_for_now")
    assert (await reload(sessions, task.id)).health is TaskHealth.PENDING
    first = slot_now()

    with capture_logs() as logs:
        assert await collector.collect(task.id, first, job_try=1) is Outcome.FAILED
        stored = await reload(sessions, task.id)
        assert (stored.health, stored.consecutive_failures) == (TaskHealth.UNAVAILABLE, 1)
        assert "User not found" in (stored.last_error or "")
        # Two intervals instead of one...
        assert stored.next_run_at == first + timedelta(seconds=60)

        second = stored.next_run_at
        assert await collector.collect(task.id, second, job_try=1) is Outcome.FAILED
        stored = await reload(sessions, task.id)
        assert (stored.health, stored.consecutive_failures) == (TaskHealth.UNAVAILABLE, 2)
        # ...then four.
        assert stored.next_run_at == second + timedelta(seconds=120)

        v1.return_value = PROFILE
        assert await collector.collect(task.id, stored.next_run_at, job_try=1) is Outcome.LIVE

    stored = await reload(sessions, task.id)
    assert (stored.health, stored.consecutive_failures, stored.last_error) == (
        TaskHealth.OK,
        0,
        None,
    )
    assert health_events(logs) == ["task.unavailable", "task.recovered"]
    # One call per try: a missing target is not asked again through the other endpoints.
    assert v1.call_count == 3


async def test_an_unavailable_target_is_retried_at_least_daily(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter
) -> None:
    tikhub.get(PROFILE_V1).return_value = NOT_FOUND
    task = await make_task(sessions, TaskType.INFLUENCER, "gone", interval_seconds=6 * 3600)
    slot = slot_now()

    for _ in range(3):
        await collector.collect(task.id, slot, job_try=1)

    # 12 h, 24 h, then 48 h would be due: capped at a day after the slot.
    assert (await reload(sessions, task.id)).next_run_at == slot + timedelta(days=1)


async def test_failures_in_a_row_make_a_task_failing_and_the_third_is_announced(
    collector: Collector,
    sessions: Sessions,
    tikhub: respx.MockRouter,
    redis: Redis,
    keys: RedisKeys,
) -> None:
    v1 = tikhub.get(PROFILE_V1)
    v1.return_value = DOWN
    tikhub.get(PROFILE_V3).return_value = DOWN
    task = await make_task(sessions, TaskType.INFLUENCER, "flaky", interval_seconds=3600)
    slot = slot_now()

    with capture_logs() as logs:
        for n in range(4):
            # Failures of this one task only; the shared breaker is not what is tested here.
            await redis.delete(collector.pool.members[0].breaker.key)
            await collector.collect(task.id, slot + timedelta(seconds=n), job_try=1)
            stored = await reload(sessions, task.id)
            assert (stored.health, stored.consecutive_failures) == (TaskHealth.FAILING, n + 1)
        scheduled = stored.next_run_at
        await redis.delete(collector.pool.members[0].breaker.key)
        v1.return_value = PROFILE
        assert await collector.collect(task.id, slot + timedelta(seconds=5), job_try=1) is (
            Outcome.LIVE
        )

    assert health_events(logs) == ["task.failing", "task.recovered"]
    stored = await reload(sessions, task.id)
    assert stored.health is TaskHealth.OK
    # Transient failures keep the task's schedule.
    assert stored.next_run_at == scheduled


async def test_a_failure_short_of_the_announcement_recovers_silently(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter
) -> None:
    v1 = tikhub.get(PROFILE_V1)
    v1.return_value = DOWN
    tikhub.get(PROFILE_V3).return_value = DOWN
    task = await make_task(sessions, TaskType.INFLUENCER, "blip", interval_seconds=3600)
    slot = slot_now()

    with capture_logs() as logs:
        await collector.collect(task.id, slot, job_try=1)
        v1.return_value = PROFILE
        await collector.collect(task.id, slot + timedelta(seconds=1), job_try=1)

    assert health_events(logs) == []
    assert (await reload(sessions, task.id)).health is TaskHealth.OK
