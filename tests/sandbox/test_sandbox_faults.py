"""Auth, outage, injected 429/5xx and latency: what a collector sees when TikHub misbehaves."""

import time

import pytest

from tests.sandbox.support import TEST_KEY, ClientFactory

PROFILE = "/api/v1/instagram/v1/fetch_user_info_by_username_v3"
DATA_CALLS = [
    (PROFILE, {"username": "natgeo"}),
    ("/api/v1/instagram/v3/get_user_profile", {"username": "natgeo"}),
    ("/api/v1/demo/instagram/web/fetch_user_info", {}),
    ("/api/v1/instagram/v2/fetch_post_info", {"code_or_url": "DAbc123"}),
    ("/api/v1/instagram/v3/get_post_info_by_code", {"code": "DAbc123"}),
    ("/api/v1/instagram/v1/fetch_post_by_url", {"post_url": "https://instagram.com/p/DAbc123/"}),
]


@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc"]
)
async def test_a_missing_or_malformed_key_is_a_401(
    make_client: ClientFactory, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with make_client(bearer=None) as client:
        response = await client.get(PROFILE, params={"username": "natgeo"}, headers=headers)
    assert response.status_code == 401
    assert response.json()["detail"]["code"] == 401
    assert response.headers["x-request-id"]


async def test_only_the_configured_key_is_accepted(make_client: ClientFactory) -> None:
    async with make_client(bearer="wrong-key", api_key=TEST_KEY) as client:
        wrong = await client.get(PROFILE, params={"username": "natgeo"})
        right = await client.get(
            PROFILE,
            params={"username": "natgeo"},
            headers={"Authorization": f"Bearer {TEST_KEY}"},
        )
    assert wrong.status_code == 401
    assert right.status_code == 200


async def test_without_a_configured_key_any_bearer_token_works(
    make_client: ClientFactory,
) -> None:
    async with make_client(bearer="anything-at-all") as client:
        response = await client.get(PROFILE, params={"username": "natgeo"})
    assert response.status_code == 200


async def test_a_nobalance_token_gets_a_402_that_echoes_the_key(
    make_client: ClientFactory,
) -> None:
    async with make_client(bearer="nobalance-key-123") as client:
        response = await client.get(PROFILE, params={"username": "natgeo"})
    assert response.status_code == 402
    assert "nobalance-key-123" in response.text


@pytest.mark.parametrize(("path", "params"), DATA_CALLS)
async def test_an_outage_answers_every_data_call_with_503(
    make_client: ClientFactory, path: str, params: dict[str, str]
) -> None:
    async with make_client(outage=True) as client:
        response = await client.get(path, params=params)
        unauthenticated = await client.get(path, params=params, headers={"Authorization": ""})
        health = await client.get("/_sandbox/health")
    assert response.status_code == 503
    assert response.json()["detail"]["code"] == 503
    # The whole gateway is down: not even the key is checked.
    assert unauthenticated.status_code == 503
    assert health.status_code == 200


async def test_rate_limit_rate_1_answers_429_with_retry_after(make_client: ClientFactory) -> None:
    async with make_client(rate_limit_rate=1.0, retry_after_seconds=7, seed=3) as client:
        responses = [await client.get(PROFILE, params={"username": "natgeo"}) for _ in range(8)]
    for response in responses:
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "7"
        assert response.json()["detail"]["code"] == 429
    # X-RateLimit-Reset comes both as seconds and as a unix time, as TikHub clients have seen.
    resets = {int(response.headers["X-RateLimit-Reset"]) for response in responses}
    assert 7 in resets
    assert any(reset > 1_000_000_000 for reset in resets)


async def test_error_rate_1_answers_server_errors(make_client: ClientFactory) -> None:
    async with make_client(error_rate=1.0, seed=1) as client:
        responses = [await client.get(PROFILE, params={"username": "natgeo"}) for _ in range(20)]
    statuses = {response.status_code for response in responses}
    assert statuses <= {500, 502, 503}
    assert len(statuses) > 1
    assert all(response.json()["detail"]["code"] in statuses for response in responses)


async def test_a_seed_makes_injected_failures_repeatable(make_client: ClientFactory) -> None:
    async def statuses() -> list[int]:
        async with make_client(error_rate=0.3, rate_limit_rate=0.2, seed=42) as client:
            return [
                (await client.get(PROFILE, params={"username": "natgeo"})).status_code
                for _ in range(60)
            ]

    first, second = await statuses(), await statuses()
    assert first == second
    assert {200, 429} <= set(first)
    assert set(first) & {500, 502, 503}


async def test_latency_delays_data_calls_but_not_the_admin_api(
    make_client: ClientFactory,
) -> None:
    async with make_client(latency_ms=150) as client:
        started = time.perf_counter()
        response = await client.get(PROFILE, params={"username": "natgeo"})
        data_seconds = time.perf_counter() - started
        started = time.perf_counter()
        await client.get("/_sandbox/config")
        admin_seconds = time.perf_counter() - started
    assert response.status_code == 200
    assert data_seconds >= 0.15
    assert admin_seconds < 0.1


async def test_admin_config_shows_and_changes_the_knobs(make_client: ClientFactory) -> None:
    async with make_client(latency_ms=5, error_rate=0.25) as client:
        initial = (await client.get("/_sandbox/config")).json()
        changed = await client.put("/_sandbox/config", json={"outage": True, "latency_ms": 0})
        during = await client.get(PROFILE, params={"username": "natgeo"})
        await client.put("/_sandbox/config", json={"outage": False, "error_rate": 0})
        after = await client.get(PROFILE, params={"username": "natgeo"})
        final = (await client.get("/_sandbox/config")).json()
    assert initial == {
        "latency_ms": 5,
        "latency_jitter_ms": 0,
        "error_rate": 0.25,
        "rate_limit_rate": 0.0,
        "retry_after_seconds": 1,
        "outage": False,
        "seed": None,
        "rejected_keys": [],
        "balance_usd": 100.0,
        "free_credit_usd": 0.0,
    }
    assert changed.status_code == 200
    # Fields left out of the PUT keep their value.
    assert changed.json() == {**initial, "outage": True, "latency_ms": 0}
    assert during.status_code == 503
    assert after.status_code == 200
    assert final == {**initial, "latency_ms": 0, "error_rate": 0.0}


async def test_admin_config_switches_on_rate_limiting_at_runtime(
    make_client: ClientFactory,
) -> None:
    async with make_client() as client:
        before = await client.get(PROFILE, params={"username": "natgeo"})
        await client.put(
            "/_sandbox/config", json={"rate_limit_rate": 1.0, "retry_after_seconds": 3}
        )
        limited = await client.get(PROFILE, params={"username": "natgeo"})
    assert before.status_code == 200
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "3"


@pytest.mark.parametrize(
    "body",
    [
        {"error_rate": 1.5},
        {"rate_limit_rate": -0.1},
        {"latency_ms": -1},
        {"latency_ms": "slow"},
        {"latency_ms": None},
        {"outage": "sometimes"},
        {"retry_after_seconds": 100_000},
        {"no_such_knob": 1},
    ],
)
async def test_admin_config_refuses_bad_values_and_keeps_the_old_ones(
    make_client: ClientFactory, body: dict[str, object]
) -> None:
    async with make_client() as client:
        before = (await client.get("/_sandbox/config")).json()
        response = await client.put("/_sandbox/config", json=body)
        after = (await client.get("/_sandbox/config")).json()
    assert response.status_code == 422
    assert after == before
