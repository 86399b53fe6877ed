"""TikHub failures: what is retried, what is not, what the task and the history end up with."""

from datetime import timedelta

import httpx
import pytest
import respx
from redis.asyncio import Redis
from structlog.testing import capture_logs

from services.collector.collect import Collector, Deferred, Outcome
from services.collector.tikhub import PROFILE_V1, PROFILE_V3
from services.collector.tikhub_errors import retry_after_seconds
from shared.models import Source, TaskHealth, TaskType
from shared.redis_keys import RedisKeys
from shared.settings import Settings
from shared.tikhub_usage import key_fingerprint
from tests.collector.support import (
    Sessions,
    failure,
    flat_profile,
    influencer_rows,
    make_task,
    reload,
    slot_now,
    success,
)

PROFILE = success(flat_profile())


async def test_429_waits_as_long_as_retry_after_asks_then_collects(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter, waits: list[float]
) -> None:
    v1 = tikhub.get(PROFILE_V1)
    v1.side_effect = [
        httpx.Response(429, headers={"Retry-After": "2"}, json=failure(429, "Rate limited")),
        httpx.Response(200, json=PROFILE),
    ]
    task = await make_task(sessions, TaskType.INFLUENCER, "instagram")

    assert await collector.collect(task.id, slot_now(), job_try=1) is Outcome.LIVE

    assert waits == [2.0]
    assert v1.call_count == 2


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"X-RateLimit-Reset": "4"}, 4.0),
        ({"Retry-After": "soon", "X-RateLimit-Reset": "5"}, 5.0),
        ({}, None),
    ],
)
def test_how_long_a_429_asks_to_wait(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_seconds(httpx.Headers(headers)) == expected


def test_x_ratelimit_reset_as_a_unix_time_is_a_wait_until_then() -> None:
    import time

    wait = retry_after_seconds(httpx.Headers({"X-RateLimit-Reset": str(int(time.time()) + 10)}))
    assert wait is not None
    assert 8 <= wait <= 10


async def test_a_server_error_is_retried_with_backoff_then_collects(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter, waits: list[float]
) -> None:
    tikhub.get(PROFILE_V1).side_effect = [
        httpx.Response(502, json=failure(502, "Bad gateway")),
        httpx.Response(200, json=PROFILE),
    ]
    task = await make_task(sessions, TaskType.INFLUENCER, "instagram")

    assert await collector.collect(task.id, slot_now(), job_try=1) is Outcome.LIVE

    # The first back-off is 0.5 s ± 25 %.
    assert len(waits) == 1
    assert 0.375 <= waits[0] <= 0.625


@pytest.mark.parametrize(
    "answer",
    [httpx.Response(503, json=failure(503, "Service unavailable")), httpx.ReadTimeout("slow")],
    ids=["503", "timeout"],
)
async def test_transient_failures_stop_after_the_configured_attempts_and_are_recorded(
    collector: Collector,
    collector_settings: Settings,
    sessions: Sessions,
    tikhub: respx.MockRouter,
    waits: list[float],
    answer: httpx.Response | Exception,
) -> None:
    v1 = tikhub.get(PROFILE_V1)
    v3 = tikhub.get(PROFILE_V3)
    for route in (v1, v3):
        if isinstance(answer, Exception):
            route.side_effect = answer
        else:
            route.return_value = answer
    task = await make_task(sessions, TaskType.INFLUENCER, "instagram")

    assert await collector.collect(task.id, slot_now(), job_try=1) is Outcome.FAILED

    attempts = collector_settings.tikhub_max_attempts
    assert (v1.call_count, v3.call_count) == (attempts, attempts)
    assert len(waits) == 2 * (attempts - 1)
    assert await influencer_rows(sessions) == []
    task = await reload(sessions, task.id)
    assert task.consecutive_failures == 1
    assert task.last_error is not None
    assert ("timed out" if isinstance(answer, Exception) else "HTTP 503") in task.last_error


@pytest.mark.parametrize("status", [401, 402, 403])
async def test_a_rejected_key_is_never_retried_and_the_job_waits_for_a_new_one(
    collector: Collector,
    collector_settings: Settings,
    sessions: Sessions,
    tikhub: respx.MockRouter,
    redis: Redis,
    keys: RedisKeys,
    status: int,
) -> None:
    key = collector_settings.tikhub_api_key.get_secret_value()
    # TikHub's 402 echoes the request's Authorization header back.
    body = failure(status, f"Refused for Bearer {key}", headers={"authorization": f"Bearer {key}"})
    v1 = tikhub.get(PROFILE_V1).respond(status, json=body)
    v3 = tikhub.get(PROFILE_V3).respond(200, json=success(flat_profile()))
    # Hourly, so that the slot can wait for a new key until the breaker's next look.
    task = await make_task(sessions, TaskType.INFLUENCER, "instagram", interval_seconds=3600)

    with capture_logs() as logs, pytest.raises(Deferred):
        await collector.collect(task.id, slot_now(), job_try=1)

    assert (v1.call_count, v3.call_count) == (1, 0)
    breaker = await redis.hgetall(keys.tikhub_breaker(key_fingerprint(key)))  # type: ignore[misc]  # redis-py types hset as maybe-sync
    assert breaker[b"credential"]
    assert f"HTTP {status}".encode() in breaker[b"reason"]
    assert key.encode() not in b"".join(breaker.values())
    assert logs
    assert key not in repr(logs)


async def test_a_402_that_echoes_the_key_defers_the_slot_without_it(
    collector: Collector,
    collector_settings: Settings,
    sessions: Sessions,
    tikhub: respx.MockRouter,
) -> None:
    key = collector_settings.tikhub_api_key.get_secret_value()
    tikhub.get(PROFILE_V1).respond(
        402, json=failure(402, f"Insufficient balance (Authorization: Bearer {key})")
    )
    task = await make_task(sessions, TaskType.INFLUENCER, "instagram", interval_seconds=3600)

    with capture_logs() as logs, pytest.raises(Deferred) as deferred:
        await collector.collect(task.id, slot_now(), job_try=1)

    assert "Insufficient balance" in str(deferred.value)
    assert key not in str(deferred.value)
    assert key not in repr(logs)
    # The key, not the target, is at fault: the task's health is left as it was.
    assert (await reload(sessions, task.id)).health is TaskHealth.PENDING


async def test_a_failed_fetch_writes_the_last_good_numbers_marked_fallback(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter
) -> None:
    task = await make_task(sessions, TaskType.INFLUENCER, "instagram")
    first_slot = slot_now() - timedelta(seconds=10)
    v1 = tikhub.get(PROFILE_V1)
    v1.return_value = httpx.Response(200, json=PROFILE)
    assert await collector.collect(task.id, first_slot, job_try=1) is Outcome.LIVE

    v1.return_value = httpx.Response(500, json=failure(500, "Internal error"))
    tikhub.get(PROFILE_V3).respond(500, json=failure(500, "Internal error"))
    assert await collector.collect(task.id, slot_now(), job_try=1) is Outcome.FALLBACK

    live, fallback = await influencer_rows(sessions)
    assert (live.source, fallback.source) == (Source.LIVE, Source.FALLBACK)
    assert fallback.follower_count == live.follower_count == 697_000_123
    assert fallback.recorded_at > live.recorded_at
    task = await reload(sessions, task.id)
    assert task.consecutive_failures == 1
    assert task.last_error is not None
    assert task.last_success_at is not None


async def test_the_fallback_payload_lives_three_intervals(
    collector: Collector,
    sessions: Sessions,
    tikhub: respx.MockRouter,
    redis: Redis,
    keys: RedisKeys,
) -> None:
    tikhub.get(PROFILE_V1).respond(200, json=PROFILE)
    task = await make_task(sessions, TaskType.INFLUENCER, "instagram", interval_seconds=1800)

    await collector.collect(task.id, slot_now(), job_try=1)

    assert 3 * 1800 - 5 <= await redis.ttl(keys.fallback(task.id)) <= 3 * 1800


async def test_a_target_that_is_gone_gets_no_fallback_row(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter
) -> None:
    task = await make_task(sessions, TaskType.INFLUENCER, "instagram")
    v1 = tikhub.get(PROFILE_V1)
    v1.return_value = httpx.Response(200, json=PROFILE)
    await collector.collect(task.id, slot_now() - timedelta(seconds=10), job_try=1)

    v1.return_value = httpx.Response(404, json=failure(404, "User not found."))
    assert await collector.collect(task.id, slot_now(), job_try=1) is Outcome.FAILED

    assert [row.source for row in await influencer_rows(sessions)] == [Source.LIVE]
    assert "User not found" in ((await reload(sessions, task.id)).last_error or "")
