"""The usage ledger counts every TikHub call, the daily budget stops billable calls, and the key
pool spreads calls over its usable keys."""

import json
from collections.abc import AsyncIterator
from datetime import date, timedelta

import httpx
import orjson
import pytest
import respx
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy import func, select

from services.collector.balance import poll_balances
from services.collector.collect import Collector, Deferred, Outcome
from services.collector.metrics import CollectorMetrics
from services.collector.tikhub import POST_BY_URL, POST_V2, PROFILE_V1, PROFILE_V3
from services.collector.worker import build_collector
from shared.models import TaskType, TikHubBudgetExceeded, WebhookEvent, utcnow
from shared.redis_keys import RedisKeys
from shared.repositories.usage import UsageCount, UsageCounts, UsageRepository
from shared.repositories.webhooks import WebhookRepository
from shared.settings import Settings
from shared.tikhub_ledger import ledger_since, parse_counts
from shared.tikhub_usage import ACCOUNT, key_fingerprint, utc_day
from tests.collector.support import (
    Sessions,
    edge_profile,
    failure,
    flat_profile,
    influencer_rows,
    items_post,
    make_task,
    metrics_post,
    post_rows,
    slot_now,
    success,
)

KEY = "test-tikhub-key-0123456789"
SECOND_KEY = "test-tikhub-key-second-987"


def today() -> date:
    return utc_day(utcnow())


async def stored(sessions: Sessions) -> UsageCounts:
    async with sessions() as session:
        return await UsageRepository(session).counts_since(today())


def by_endpoint(counts: UsageCounts) -> dict[str, tuple[int, int, int]]:
    totals: dict[str, UsageCount] = {}
    for key, count in counts.items():
        totals.setdefault(key.endpoint, UsageCount()).add(count)
    return {
        endpoint: (count.calls, count.billable_calls, count.cost_micro_usd)
        for endpoint, count in totals.items()
    }


async def test_every_call_is_in_the_ledger_with_retries_and_fallback_endpoints(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter
) -> None:
    v1 = tikhub.get(PROFILE_V1)
    v1.side_effect = [
        httpx.Response(429, headers={"Retry-After": "1"}, json=failure(429, "Rate limited")),
        httpx.Response(503, json=failure(503, "down")),
        # No media count: the v3 endpoint is asked for it.
        httpx.Response(200, json=success(flat_profile(media_count=None))),
    ]
    v3 = tikhub.get(PROFILE_V3).respond(200, json=success(edge_profile(), router=PROFILE_V3))
    task = await make_task(sessions, TaskType.INFLUENCER, "instagram")

    assert await collector.collect(task.id, slot_now(), job_try=1) is Outcome.LIVE

    assert (v1.call_count, v3.call_count) == (3, 1)
    # Nothing in MySQL before the flush; the readers see Redis's counts meanwhile.
    assert await stored(sessions) == {}
    async with sessions() as session:
        live = await ledger_since(collector.redis, collector.keys, session, today())
    assert by_endpoint(live) == {PROFILE_V1: (3, 1, 1_000), PROFILE_V3: (1, 1, 2_000)}

    assert await collector.ledger.flush() == 1
    counts = await stored(sessions)
    assert by_endpoint(counts) == {PROFILE_V1: (3, 1, 1_000), PROFILE_V3: (1, 1, 2_000)}
    assert {key.task_id for key in counts} == {task.id}
    assert {key.key_fingerprint for key in counts} == {key_fingerprint(KEY)}
    # Flushing again adds nothing.
    assert await collector.ledger.flush() == 0
    assert await stored(sessions) == counts


async def test_a_flush_that_died_before_cleaning_up_is_not_added_twice(
    collector: Collector,
    sessions: Sessions,
    tikhub: respx.MockRouter,
    redis: Redis,
    keys: RedisKeys,
) -> None:
    tikhub.get(POST_BY_URL).respond(
        200, json=success(items_post(like_count=5, comment_count=1, play_count=9))
    )
    task = await make_task(sessions, TaskType.POST, "CxYQJO8xuC6")
    await collector.collect(task.id, slot_now(), job_try=1)
    # As if a flush had renamed the pending counts and committed them, then died.
    await redis.rename(keys.tikhub_usage_pending, keys.tikhub_usage_batch("b" * 32))
    await redis.sadd(keys.tikhub_usage_batches, "b" * 32)  # type: ignore[misc]
    counts = parse_counts(await redis.hgetall(keys.tikhub_usage_batch("b" * 32)))  # type: ignore[misc]
    async with sessions.begin() as session:
        assert await UsageRepository(session).add_batch("b" * 32, counts, now=utcnow())

    assert await collector.ledger.flush() == 0
    assert by_endpoint(await stored(sessions)) == {POST_BY_URL: (1, 1, 1_000)}
    assert await redis.exists(keys.tikhub_usage_batch("b" * 32)) == 0


async def collector_with(
    settings: Settings, redis: Redis, sessions: Sessions
) -> AsyncIterator[Collector]:
    """A collector of its own settings; its connections closed afterwards."""
    collector = build_collector(
        settings, redis=redis, sessions=sessions, metrics=CollectorMetrics(CollectorRegistry())
    )
    yield collector
    await collector.pool.aclose()


@pytest.fixture
def budget_settings(collector_settings: Settings) -> Settings:
    return collector_settings.model_copy(update={"tikhub_daily_budget_usd": 0.002})


@pytest.fixture
async def budget_collector(
    budget_settings: Settings, redis: Redis, sessions: Sessions
) -> AsyncIterator[Collector]:
    async for collector in collector_with(budget_settings, redis, sessions):
        yield collector


async def test_once_the_budget_is_spent_slots_are_skipped_without_any_row(
    budget_collector: Collector,
    sessions: Sessions,
    redis: Redis,
    keys: RedisKeys,
    tikhub: respx.MockRouter,
) -> None:
    collector = budget_collector
    v1 = tikhub.get(PROFILE_V1).respond(200, json=success(flat_profile()))
    async with sessions.begin() as session:
        await WebhookRepository(session).create(
            url="https://hooks.example.com/budget",
            description=None,
            event_types=["budget.exceeded"],
            secret="whsec_dGVzdA==",
            now=utcnow(),
        )
    task = await make_task(sessions, TaskType.INFLUENCER, "instagram")
    first = slot_now()
    # Two calls at 0.001 USD reach the 0.002 USD budget.
    for seconds in (0, 1):
        current = first + timedelta(seconds=seconds)
        assert await collector.collect(task.id, current, job_try=1) is Outcome.LIVE
    await collector.ledger.flush()
    slot = first + timedelta(seconds=2)

    # A fallback payload is there, yet the skipped slots get no fallback row.
    assert await redis.exists(keys.fallback(task.id))
    assert await collector.collect(task.id, slot, job_try=1) is Outcome.SKIPPED
    later = await make_task(sessions, TaskType.INFLUENCER, "natgeo")
    assert await collector.collect(later.id, slot, job_try=1) is Outcome.SKIPPED

    assert v1.call_count == 2
    assert len(await influencer_rows(sessions)) == 2
    assert int(await redis.get(keys.tikhub_budget_skips(today().isoformat())) or 0) == 2
    async with sessions() as session:
        days = await session.scalar(select(func.count()).select_from(TikHubBudgetExceeded))
    assert days == 1
    # The moment is reported once per day, to the webhooks that take it.
    assert not await collector.ledger.budget_exceeded_first_time()
    async with sessions() as session:
        bodies = list(await session.scalars(select(WebhookEvent.body)))
    assert [orjson.loads(body)["data"] for body in bodies] == [
        {"date": today().isoformat(), "cost_usd": 0.002, "daily_budget_usd": 0.002}
    ]


async def test_the_budget_guard_survives_losing_redis_counts(
    budget_settings: Settings,
    budget_collector: Collector,
    sessions: Sessions,
    redis: Redis,
    keys: RedisKeys,
    tikhub: respx.MockRouter,
) -> None:
    collector = budget_collector
    by_url = tikhub.get(POST_BY_URL).respond(500, json=failure(500, "x"))
    tikhub.get(POST_V2).respond(200, json=success(metrics_post(), router=POST_V2))
    task = await make_task(sessions, TaskType.POST, "CxYQJO8xuC6")
    # v1 fails (not billed), v2 answers: 0.002 USD, the whole budget.
    assert await collector.collect(task.id, slot_now(), job_try=1) is Outcome.LIVE
    await collector.ledger.flush()
    await redis.delete(keys.tikhub_spend(today().isoformat()))
    later = slot_now() + timedelta(minutes=1)
    assert await collector.collect(task.id, later, job_try=1) is Outcome.SKIPPED
    # The second slot made no call at all: the spend was rebuilt from MySQL.
    assert by_url.call_count == budget_settings.tikhub_max_attempts
    assert len(await post_rows(sessions)) == 1


@pytest.fixture
async def pool_collector(
    collector_settings: Settings, redis: Redis, sessions: Sessions
) -> AsyncIterator[Collector]:
    pooled = collector_settings.model_copy(update={"tikhub_api_keys": SecretStr(SECOND_KEY)})
    async for collector in collector_with(pooled, redis, sessions):
        yield collector


def bearer(request: httpx.Request) -> str:
    return request.headers["authorization"].removeprefix("Bearer ")


async def test_the_pool_spreads_calls_and_survives_a_rejected_key(
    pool_collector: Collector, sessions: Sessions, tikhub: respx.MockRouter
) -> None:
    collector = pool_collector
    rejected: set[str] = set()

    def answer(request: httpx.Request) -> httpx.Response:
        if bearer(request) in rejected:
            return httpx.Response(401, json=failure(401, "invalid key"))
        return httpx.Response(200, json=success(flat_profile()))

    v1 = tikhub.get(PROFILE_V1).mock(side_effect=answer)
    tasks = [await make_task(sessions, TaskType.INFLUENCER, f"user{n}") for n in range(6)]
    slot = slot_now()
    for task in tasks[:4]:
        assert await collector.collect(task.id, slot, job_try=1) is Outcome.LIVE
    used = [bearer(call.request) for call in v1.calls]
    assert sorted(used) == sorted([KEY, KEY, SECOND_KEY, SECOND_KEY])

    rejected.add(SECOND_KEY)
    # Turns alternate: the first job goes on the first key, the next one on the second.
    assert await collector.collect(tasks[4].id, slot, job_try=1) is Outcome.LIVE
    with pytest.raises(Deferred) as deferred:
        await collector.collect(tasks[5].id, slot, job_try=1)
    # The rejected key left the rotation: the job is retried at once, on the other key.
    assert deferred.value.seconds == 0
    assert await collector.collect(tasks[5].id, slot, job_try=2) is Outcome.LIVE
    assert bearer(v1.calls[-1].request) == KEY
    members = {member.fingerprint: member for member in collector.pool.members}
    second = members[key_fingerprint(SECOND_KEY)]
    assert not (await second.breaker.admit()).allowed
    await collector.ledger.flush()
    per_key: dict[str, int] = {}
    for key, count in (await stored(sessions)).items():
        per_key[key.key_fingerprint] = per_key.get(key.key_fingerprint, 0) + count.calls
    sent: dict[str, int] = {}
    for call in v1.calls:
        fingerprint = key_fingerprint(bearer(call.request))
        sent[fingerprint] = sent.get(fingerprint, 0) + 1
    assert per_key == sent
    assert len(await influencer_rows(sessions)) == 6


async def test_the_balance_is_polled_at_most_once_per_interval(
    collector: Collector,
    sessions: Sessions,
    tikhub: respx.MockRouter,
    redis: Redis,
    keys: RedisKeys,
) -> None:
    account = tikhub.get(ACCOUNT).respond(
        200,
        json=success(
            {"user_data": {"email": "a@example.com", "balance": 12.5, "free_credit": 0.5}},
            router=ACCOUNT,
        ),
    )
    for _ in range(2):
        await poll_balances(collector.pool, collector.tikhub, redis, keys, every_seconds=600)

    assert account.call_count == 1
    stored_balance = await redis.get(keys.tikhub_balance(key_fingerprint(KEY)))
    assert stored_balance is not None
    assert json.loads(stored_balance)["balance_usd"] == 12.5
    await collector.ledger.flush()
    assert by_endpoint(await stored(sessions)) == {ACCOUNT: (1, 1, 0)}
