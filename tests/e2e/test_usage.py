"""TikHub usage as a user sees it, with the real processes and the sandbox: the ledger equals the
sandbox's own counts through retries, fallback endpoints, 429s and a rejected key, and a tiny
daily budget stops the calls without a fallback row."""

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.models import Source, utcnow
from shared.settings import Settings
from shared.tikhub_usage import PROFILE_V1, key_fingerprint
from tests.e2e.stack import Stack, running_stack
from tests.e2e.test_product import (
    INFLUENCER,
    INTERVAL,
    POST,
    Sessions,
    create,
    eventually,
    slots,
    wait_until,
)

pytestmark = pytest.mark.e2e

FIRST_KEY = "sandbox-e2e-key"
SECOND_KEY = "sandbox-e2e-key-2"
SERVICES = ("sandbox", "api", "scheduler", "collector")


async def usage(api: httpx.AsyncClient) -> dict[str, Any]:
    tikhub: dict[str, Any] = (await api.get("/api/v1/usage")).json()["data"]["tikhub"]
    return tikhub


async def sandbox_counts(stack: Stack) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=stack.sandbox_url, timeout=10) as client:
        counts: dict[str, Any] = (await client.get("/_sandbox/calls")).json()
        return counts


@pytest.fixture
async def pool_stack(
    settings: Settings, sessions: Sessions, tmp_path: Path
) -> AsyncIterator[Stack]:
    environment = {"TIKHUB_API_KEYS": SECOND_KEY, "COLLECTOR_USAGE_FLUSH_SECONDS": "1"}
    async with running_stack(settings, tmp_path, SERVICES, environment) as stack:
        yield stack


async def test_the_ledger_equals_the_sandbox_counts_through_faults_and_a_rejected_key(
    pool_stack: Stack, sessions: Sessions
) -> None:
    async with (
        httpx.AsyncClient(base_url=pool_stack.api_url, timeout=10) as api,
        httpx.AsyncClient(base_url=pool_stack.sandbox_url, timeout=10) as sandbox,
    ):
        # 429s and 5xx on a third of the calls: retries; `nomedia…` lacks a count in v1, so
        # v3 is asked too.
        await sandbox.put(
            "/_sandbox/config",
            json={"rate_limit_rate": 0.2, "error_rate": 0.15, "retry_after_seconds": 0, "seed": 5},
        )
        tasks = [
            await create(api, INFLUENCER, {"username": "e2e.usage"}),
            await create(api, INFLUENCER, {"username": "nomedia.e2e"}),
            await create(api, POST, {"post_url": "https://www.instagram.com/reel/E2eUsage1/"}),
        ]
        start = utcnow()

        async def every_task_has_rows(count: int) -> bool:
            return all([len(await slots(sessions, task)) >= count for task in tasks])

        await eventually(lambda: every_task_has_rows(1), "a first row of every task", INTERVAL + 15)
        await sandbox.put("/_sandbox/config", json={"rejected_keys": [SECOND_KEY]})
        await wait_until(start + timedelta(seconds=INTERVAL))
        await eventually(lambda: every_task_has_rows(2), "a second row with one key rejected", 25)
        await api.post(f"{INFLUENCER}/stop_tasks", json={"task_ids": tasks[:2]})
        await api.post(f"{POST}/stop_tasks", json={"task_ids": tasks[2:]})

        async def ledger_caught_up() -> bool:
            counted = await sandbox_counts(pool_stack)
            return bool((await usage(api))["today"]["calls"] == counted["total"])

        # Jobs still running when the tasks stopped may make a last call or two.
        await eventually(ledger_caught_up, "the ledger to count what the sandbox counted", 20)
        counted = await sandbox_counts(pool_stack)
        tikhub = await usage(api)

    assert tikhub["today"]["calls"] == counted["total"]
    calls_by_key = {key["fingerprint"]: key["calls_today"] for key in tikhub["keys"]}
    assert calls_by_key == {
        key_fingerprint(FIRST_KEY): counted["by_key"][key_fingerprint(FIRST_KEY)],
        key_fingerprint(SECOND_KEY): counted["by_key"][key_fingerprint(SECOND_KEY)],
    }
    assert all(calls_by_key.values()), "both keys carried calls"
    states = {key["fingerprint"]: key["state"] for key in tikhub["keys"]}
    assert states == {
        key_fingerprint(FIRST_KEY): "healthy",
        key_fingerprint(SECOND_KEY): "rejected",
    }
    assert tikhub["rate_limit_per_second"] == 10
    # A third of the calls failed, and errors are not billed.
    assert 0 < tikhub["today"]["billable_calls"] < tikhub["today"]["calls"]


@pytest.fixture
async def budget_stack(
    settings: Settings, sessions: Sessions, tmp_path: Path
) -> AsyncIterator[Stack]:
    # Three v1 calls spend it.
    environment = {"TIKHUB_DAILY_BUDGET_USD": "0.003", "COLLECTOR_USAGE_FLUSH_SECONDS": "1"}
    async with running_stack(settings, tmp_path, SERVICES, environment) as stack:
        yield stack


async def test_a_tiny_budget_stops_the_calls_and_no_fallback_row_appears(
    budget_stack: Stack, sessions: Sessions
) -> None:
    async with httpx.AsyncClient(base_url=budget_stack.api_url, timeout=10) as api:
        tasks = [await create(api, INFLUENCER, {"username": f"e2e.budget{n}"}) for n in range(3)]
        start = utcnow()

        async def first_rows() -> bool:
            return all([len(await slots(sessions, task)) == 1 for task in tasks])

        await eventually(first_rows, "the first collection of every task", 15)
        calls_after_first_slot = (await sandbox_counts(budget_stack))["by_path"][PROFILE_V1]
        # The next slot of each task is due at start + 30 s; give it time to be skipped.
        await wait_until(start + timedelta(seconds=INTERVAL + 10))
        tikhub = await usage(api)
        counts = await sandbox_counts(budget_stack)

    assert counts["by_path"][PROFILE_V1] == calls_after_first_slot == 3
    for task in tasks:
        # The skipped slot left no row: not even a fallback one.
        assert [source for _, source in await slots(sessions, task)] == [Source.LIVE]
    assert tikhub["today"]["cost_usd"] == 0.003
    assert tikhub["daily_budget_usd"] == 0.003
    assert tikhub["budget_exceeded_at"] is not None
    assert tikhub["budget_skipped_slots_today"] >= 3
