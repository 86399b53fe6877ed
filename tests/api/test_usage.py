"""GET /api/v1/usage and task_status's usage: the ledger, projections, balance, budget, keys."""

import json
from datetime import timedelta

from httpx import AsyncClient
from redis.asyncio import Redis

from services.collector.usage import UsageLedger
from shared.models import utcnow
from shared.redis_keys import RedisKeys
from shared.repositories.usage import UsageCount, UsageKey, UsageRepository
from shared.settings import Settings
from shared.tikhub_usage import (
    ACCOUNT,
    POST_BY_URL,
    PROFILE_V1,
    PROFILE_V3,
    key_fingerprint,
    utc_day,
)
from tests.api.support import INFLUENCER, POST, Sessions, create_task, running_app

USAGE = "/api/v1/usage"
FINGERPRINT = key_fingerprint("test-tikhub-key-0123456789")


def ledger(redis: Redis, keys: RedisKeys, sessions: Sessions, settings: Settings) -> UsageLedger:
    return UsageLedger(
        redis, keys, sessions, prices=settings.tikhub_prices_usd, daily_budget_usd=None
    )


async def test_usage_projects_the_active_tasks_at_their_intervals(client: AsyncClient) -> None:
    await create_task(client, INFLUENCER, "natgeo", interval="30s")
    await create_task(client, POST, "CxYQJO8xuC6", interval="1h")
    await create_task(client, INFLUENCER, "weekly", interval="7d")
    paused = await create_task(client, INFLUENCER, "paused", interval="30s")
    await client.post(f"{INFLUENCER.prefix}/pause_task/{paused}")
    stopped = await create_task(client, POST, "DAbc123", interval="30m")
    await client.post(f"{POST.prefix}/stop_tasks", json={"task_ids": [stopped]})

    response = await client.get(USAGE)

    assert response.status_code == 200
    tikhub = response.json()["data"]["tikhub"]
    calls_per_day = 86_400 / 30 + 86_400 / 3600 + 86_400 / 604_800
    assert tikhub["projected"]["calls_per_day"] == calls_per_day
    # Both kinds' first endpoints (v1) cost 0.001 USD a call.
    assert tikhub["projected"]["cost_usd_per_day"] == round(calls_per_day * 0.001, 6)
    assert tikhub["projected"]["cost_usd_per_30_days"] == round(calls_per_day * 0.001 * 30, 6)
    assert tikhub["rate_limit_per_second"] == 10
    assert tikhub["capacity_used_pct"] == round(calls_per_day / 86_400 / 10 * 100, 2)
    assert tikhub["today"] == {"calls": 0, "billable_calls": 0, "cost_usd": 0}
    assert len(tikhub["daily"]) == 30
    assert tikhub["daily"][0]["date"] == utc_day(utcnow()).isoformat()
    assert (tikhub["balance_usd"], tikhub["runway_days"], tikhub["daily_budget_usd"]) == (
        None,
        None,
        None,
    )
    assert tikhub["keys"] == [
        {
            "fingerprint": FINGERPRINT,
            "state": "healthy",
            "calls_today": 0,
            "rate_limit_per_second": 10,
        }
    ]
    assert tikhub["warnings"] == []
    assert response.json()["data"]["tasks"] == {"active": 3, "paused": 1, "stopped": 1}


async def test_usage_projects_a_tracked_creators_samples_one_a_slot_at_most_one_an_hour(
    client: AsyncClient,
) -> None:
    for username, interval in (("often", "30s"), ("seldom", "1d")):
        body = {**INFLUENCER.create_body(username, interval), "track_posts": True}
        response = await client.post(f"{INFLUENCER.prefix}/create_monitor_task", json=body)
        assert response.status_code == 201, response.text

    projected = (await client.get(USAGE)).json()["data"]["tikhub"]["projected"]

    # 2,880 slots and 24 samples (one an hour), then one slot and its sample.
    calls_per_day = 2_880 + 24 + 1 + 1
    assert projected["calls_per_day"] == calls_per_day
    # The samples are priced as v1 fetch_user_posts, 0.001 USD like the profiles' v1.
    assert projected["cost_usd_per_day"] == round(calls_per_day * 0.001, 6)


async def test_usage_counts_what_mysql_and_redis_hold_and_task_status_its_share(
    client: AsyncClient, settings: Settings, sessions: Sessions, redis: Redis, keys: RedisKeys
) -> None:
    task_id = await create_task(client, INFLUENCER, "natgeo", interval="1h")
    counts = ledger(redis, keys, sessions, settings)
    await counts.record(
        task_id=task_id, endpoint=PROFILE_V1, fingerprint=FINGERPRINT, answered=False
    )
    await counts.record(
        task_id=task_id, endpoint=PROFILE_V1, fingerprint=FINGERPRINT, answered=True
    )
    await counts.flush()
    # Not flushed yet: still counted.
    await counts.record(
        task_id=task_id, endpoint=PROFILE_V3, fingerprint=FINGERPRINT, answered=True
    )
    await counts.record(task_id="", endpoint=ACCOUNT, fingerprint=FINGERPRINT, answered=True)
    other_key = key_fingerprint("a-key-no-longer-in-the-pool")
    await counts.record(task_id="other", endpoint=POST_BY_URL, fingerprint=other_key, answered=True)
    yesterday = utc_day(utcnow()) - timedelta(days=1)
    async with sessions.begin() as session:
        await UsageRepository(session).add_batch(
            "y" * 32,
            {UsageKey(yesterday, task_id, PROFILE_V1, FINGERPRINT): UsageCount(7, 5, 5_000)},
            now=utcnow(),
        )

    tikhub = (await client.get(USAGE)).json()["data"]["tikhub"]
    status = (await client.get(f"{INFLUENCER.prefix}/task_status/{task_id}")).json()["data"]

    assert tikhub["today"] == {"calls": 5, "billable_calls": 4, "cost_usd": 0.004}
    assert tikhub["daily"][0]["calls"] == 5
    assert tikhub["daily"][1] == {"date": yesterday.isoformat(), "calls": 7, "cost_usd": 0.005}
    assert {key["fingerprint"]: (key["state"], key["calls_today"]) for key in tikhub["keys"]} == {
        FINGERPRINT: ("healthy", 4),
        other_key: ("retired", 1),
    }
    assert status["usage"] == {
        "calls_today": 3,
        "cost_usd_today": 0.003,
        "projected_calls_per_day": 24.0,
        "projected_cost_usd_per_day": 0.024,
    }


async def test_usage_shows_the_balance_runway_budget_and_rejected_keys(
    settings: Settings, sessions: Sessions, redis: Redis, keys: RedisKeys
) -> None:
    budgeted = settings.model_copy(update={"tikhub_daily_budget_usd": 5.0})
    second = key_fingerprint("second")
    await redis.hset(keys.tikhub_pool, mapping={FINGERPRINT: "10", second: "10"})  # type: ignore[misc]
    await redis.hset(
        keys.tikhub_breaker(second), mapping={"credential": second, "reason": "HTTP 401"}
    )  # type: ignore[misc]
    checked_at = "2026-12-01T10:00:00Z"
    for fingerprint in (FINGERPRINT, second):
        # Two keys of one account: its balance is counted once.
        await redis.set(
            keys.tikhub_balance(fingerprint),
            json.dumps(
                {
                    "balance_usd": 57.6,
                    "free_credit_usd": 0.5,
                    "account": "a@example.com",
                    "checked_at": checked_at,
                }
            ),
        )
    async with running_app(budgeted) as client:
        await create_task(client, INFLUENCER, "natgeo", interval="30s")
        tikhub = (await client.get(USAGE)).json()["data"]["tikhub"]

    assert tikhub["balance_usd"] == 57.6
    assert tikhub["free_credit_usd"] == 0.5
    assert tikhub["balance_checked_at"] == checked_at
    # 2,880 calls a day at 0.001 USD: 2.88 USD a day.
    assert tikhub["runway_days"] == 20.0
    assert tikhub["daily_budget_usd"] == 5.0
    assert tikhub["rate_limit_per_second"] == 10
    assert {key["fingerprint"]: key["state"] for key in tikhub["keys"]} == {
        FINGERPRINT: "healthy",
        second: "rejected",
    }


async def test_creating_more_than_the_pool_can_collect_succeeds_with_a_warning(
    settings: Settings, sessions: Sessions, redis: Redis
) -> None:
    # A pool of 0.05 calls per second: two 30 s tasks need 0.067.
    slow = settings.model_copy(update={"tikhub_rate_limit_per_second": 0.05})
    async with running_app(slow) as client:
        first = await client.post(
            f"{INFLUENCER.prefix}/create_monitor_task", json=INFLUENCER.create_body("natgeo", "30s")
        )
        second = await client.post(
            f"{POST.prefix}/create_monitor_task", json=POST.create_body("CxYQJO8xuC6", "30s")
        )
        usage = (await client.get(USAGE)).json()["data"]["tikhub"]

    assert first.status_code == 201
    assert first.json()["data"]["warnings"] == []
    assert second.status_code == 201
    (warning,) = second.json()["data"]["warnings"]
    assert "0.07 TikHub calls per second" in warning
    assert "33 % more" in warning
    assert usage["warnings"] == [warning]
    assert usage["capacity_used_pct"] == 133.33
