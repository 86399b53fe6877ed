"""Per-key rate limits: a Redis token bucket shared by replicas, lifted while Redis is down."""

import pytest
from httpx import Response
from structlog.testing import capture_logs

from services.api import runtime
from shared.settings import Settings
from tests.api.support import (
    DEAD_REDIS_URL,
    INFLUENCER,
    POST,
    Sessions,
    add_api_key,
    assert_error,
    running_app,
)

TASKS = f"{INFLUENCER.prefix}/tasks"
# So slow a refill (one token per 100 s) that a test never sees one, however slow the machine.
LIMITED = {"api_auth": "required", "api_rate_limit_per_second": 0.01, "api_rate_limit_burst": 3}


@pytest.fixture
def limited(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    # A Redis call that outlasts the API's timeout lets the request through uncharged (the
    # API prefers serving to refusing); on a machine busy with other test workers a stall of
    # a second happens, and these tests count tokens exactly.
    monkeypatch.setattr(runtime, "REDIS_TIMEOUT_SECONDS", 30.0)
    return settings.model_copy(update=LIMITED)


def limit_headers(response: Response) -> tuple[str, str]:
    return response.headers["x-ratelimit-limit"], response.headers["x-ratelimit-remaining"]


async def test_a_key_over_its_burst_gets_429_with_the_headers_to_back_off(
    limited: Settings, sessions: Sessions
) -> None:
    key = await add_api_key(sessions)
    async with running_app(limited) as client:
        allowed = [await client.get(TASKS, headers={"X-API-Key": key}) for _ in range(3)]
        refused = await client.get(f"{POST.prefix}/tasks", headers={"X-API-Key": key})

    assert [response.status_code for response in allowed] == [200, 200, 200]
    assert [limit_headers(response) for response in allowed] == [("3", "2"), ("3", "1"), ("3", "0")]
    assert 0 < int(allowed[0].headers["x-ratelimit-reset"]) <= 100
    error = assert_error(refused, 429, "rate_limited")
    assert "retry in" in error["message"]
    assert limit_headers(refused) == ("3", "0")
    assert 99 <= int(refused.headers["retry-after"]) <= 100
    assert refused.headers["x-request-id"]


async def test_the_budget_is_shared_by_every_replica(limited: Settings, sessions: Sessions) -> None:
    key = await add_api_key(sessions)
    async with running_app(limited) as first, running_app(limited) as second:
        statuses = [
            (await replica.get(TASKS, headers={"X-API-Key": key})).status_code
            for replica in (first, second, first, second, first)
        ]
    assert statuses == [200, 200, 200, 429, 429]


async def test_each_key_has_its_own_budget(limited: Settings, sessions: Sessions) -> None:
    busy = await add_api_key(sessions, "busy")
    quiet = await add_api_key(sessions, "quiet")
    async with running_app(limited) as client:
        for _ in range(4):
            await client.get(TASKS, headers={"X-API-Key": busy})
        response = await client.get(TASKS, headers={"Authorization": f"Bearer {quiet}"})
    assert response.status_code == 200
    assert limit_headers(response) == ("3", "2")


async def test_without_redis_requests_go_through_unlimited(
    limited: Settings, sessions: Sessions
) -> None:
    key = await add_api_key(sessions)
    no_redis = limited.model_copy(update={"redis_url": DEAD_REDIS_URL})
    async with running_app(no_redis) as client:
        with capture_logs() as logs:
            responses = [await client.get(TASKS, headers={"X-API-Key": key}) for _ in range(5)]
        unknown = await client.get(TASKS, headers={"X-API-Key": key + "x"})
    assert [response.status_code for response in responses] == [200] * 5
    assert "x-ratelimit-limit" not in responses[0].headers
    # MySQL still decides who may come in.
    assert_error(unknown, 401, "invalid_api_key")
    warnings = [log for log in logs if log["event"] == "api.rate_limit_unavailable"]
    assert len(warnings) == 5
