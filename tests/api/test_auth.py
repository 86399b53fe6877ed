"""API keys: every API route wants one, probes and docs do not; revoking takes effect at once."""

import argparse
import asyncio
import io
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from redis.asyncio import Redis
from sqlalchemy import event
from structlog.testing import capture_logs

from services.api.api_keys import hash_key
from services.api.app import create_app
from services.api.keys_command import run_keys_command
from shared.redis_keys import RedisKeys
from shared.repositories.api_keys import ApiKeyRepository
from shared.settings import Settings
from tests.api.support import (
    DEAD_DATABASE_URL,
    INFLUENCER,
    POST,
    Kind,
    Sessions,
    add_api_key,
    assert_error,
    running_app,
    serving,
)

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
EVERY_PROTECTED_ROUTE: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", f"{INFLUENCER.prefix}/create_monitor_task", {"username": "natgeo", "interval": "1h"}),
    ("GET", f"{INFLUENCER.prefix}/user_history/natgeo", None),
    ("GET", f"{INFLUENCER.prefix}/tasks", None),
    ("POST", f"{INFLUENCER.prefix}/stop_tasks", {"task_ids": [UNKNOWN_ID]}),
    ("GET", f"{INFLUENCER.prefix}/task_status/{UNKNOWN_ID}", None),
    ("POST", f"{INFLUENCER.prefix}/pause_task/{UNKNOWN_ID}", None),
    ("POST", f"{INFLUENCER.prefix}/resume_task/{UNKNOWN_ID}", None),
    (
        "POST",
        f"{POST.prefix}/create_monitor_task",
        {"post_url": "instagram.com/p/Cx1", "interval": "1h"},
    ),
    ("GET", f"{POST.prefix}/video_history/Cx1", None),
    ("GET", f"{POST.prefix}/tasks", None),
    ("POST", f"{POST.prefix}/stop_tasks", {"task_ids": [UNKNOWN_ID]}),
    ("GET", f"{POST.prefix}/task_status/{UNKNOWN_ID}", None),
    ("POST", f"{POST.prefix}/pause_task/{UNKNOWN_ID}", None),
    ("POST", f"{POST.prefix}/resume_task/{UNKNOWN_ID}", None),
]


@pytest.fixture
def auth_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"api_auth": "required"})


@pytest.fixture
async def guarded(auth_settings: Settings, sessions: Sessions) -> AsyncIterator[AsyncClient]:
    """A client on an app that requires API keys."""
    async with running_app(auth_settings) as client:
        yield client


def revoke(settings: Settings, name: str) -> int:
    arguments = argparse.Namespace(command="keys", action="revoke", name=name)
    return run_keys_command(settings, arguments, io.StringIO())


@pytest.mark.parametrize(("method", "path", "body"), EVERY_PROTECTED_ROUTE)
async def test_every_api_route_refuses_a_request_without_a_key(
    guarded: AsyncClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = await guarded.request(method, path, json=body)
    error = assert_error(response, 401, "missing_api_key")
    assert "X-API-Key" in error["message"]
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"])
async def test_probes_metrics_and_docs_stay_open(guarded: AsyncClient, path: str) -> None:
    assert (await guarded.get(path)).status_code == 200


async def test_each_way_of_sending_a_key_on_each_route_family(
    guarded: AsyncClient, sessions: Sessions, kind: Kind
) -> None:
    key = await add_api_key(sessions)
    tasks = f"{kind.prefix}/tasks"

    assert (await guarded.get(tasks, headers={"X-API-Key": key})).status_code == 200
    assert (await guarded.get(tasks, headers={"Authorization": f"Bearer {key}"})).status_code == 200
    for headers in (
        {"X-API-Key": key + "x"},
        {"Authorization": "Bearer im_not-a-key"},
    ):
        assert_error(await guarded.get(tasks, headers=headers), 401, "invalid_api_key")
    for headers in ({"Authorization": f"Basic {key}"}, {"X-API-Key": ""}):
        assert_error(await guarded.get(tasks, headers=headers), 401, "missing_api_key")


async def test_a_revoked_key_is_refused_at_once(
    guarded: AsyncClient, sessions: Sessions, auth_settings: Settings, kind: Kind
) -> None:
    key = await add_api_key(sessions, "leaving")
    kept = await add_api_key(sessions, "staying")
    tasks = f"{kind.prefix}/tasks"
    assert (await guarded.get(tasks, headers={"X-API-Key": key})).status_code == 200

    assert await asyncio.to_thread(revoke, auth_settings, "leaving") == 0

    error = assert_error(
        await guarded.get(tasks, headers={"X-API-Key": key}), 401, "invalid_api_key"
    )
    assert "revoked" in error["message"]
    assert (await guarded.get(tasks, headers={"X-API-Key": kept})).status_code == 200


async def test_last_use_is_recorded_without_a_write_per_request(
    guarded: AsyncClient, sessions: Sessions
) -> None:
    key = await add_api_key(sessions, "busy")

    async def last_used() -> object:
        async with sessions() as session:
            (found,) = await ApiKeyRepository(session).list_all()
        return found.last_used_at

    assert await last_used() is None
    await guarded.get(f"{POST.prefix}/tasks", headers={"X-API-Key": key})
    first = await last_used()
    assert first is not None
    for _ in range(3):
        await guarded.get(f"{POST.prefix}/tasks", headers={"X-API-Key": key})
    assert await last_used() == first


async def test_keys_are_never_logged(
    guarded: AsyncClient,
    sessions: Sessions,
    auth_settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    out = io.StringIO()
    created = argparse.Namespace(command="keys", action="create", name="logged")
    with capture_logs() as logs:
        assert await asyncio.to_thread(run_keys_command, auth_settings, created, out) == 0
        key = out.getvalue().strip()
        listing = io.StringIO()
        listed = argparse.Namespace(command="keys", action="list")
        await asyncio.to_thread(run_keys_command, auth_settings, listed, listing)
        for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}x"}):
            await guarded.get(f"{INFLUENCER.prefix}/tasks", headers=headers)
        await asyncio.to_thread(revoke, auth_settings, "logged")
        await guarded.get(f"{INFLUENCER.prefix}/tasks", headers={"X-API-Key": key})

    assert key.startswith("im_")
    assert [event["event"] for event in logs].count("api.request") == 3
    assert key not in repr(logs)
    assert key not in caplog.text
    assert key not in listing.getvalue()
    assert "logged" in listing.getvalue()


async def test_the_openapi_document_offers_both_ways_to_send_a_key(
    guarded: AsyncClient, client: AsyncClient
) -> None:
    document = (await guarded.get("/openapi.json")).json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": schemes["ApiKeyHeader"]["description"],
    }
    assert schemes["BearerKey"]["scheme"] == "bearer"
    history = document["paths"][f"{INFLUENCER.prefix}/user_history/{{user_id}}"]["get"]
    assert history["security"] == [{"ApiKeyHeader": []}, {"BearerKey": []}]
    assert {"401", "429"} <= set(history["responses"])
    assert "security" not in document["paths"]["/healthz"]["get"]

    open_document = (await client.get("/openapi.json")).json()
    assert "securitySchemes" not in open_document.get("components", {})


async def test_a_key_checked_lately_needs_no_mysql(
    auth_settings: Settings, sessions: Sessions, redis: Redis, keys: RedisKeys
) -> None:
    key = await add_api_key(sessions)
    cached = b'{"status_code":200,"success":true,"data":{"username":"natgeo","history":[]}}'
    await redis.set(keys.influencer_history(42), cached)
    history = f"{INFLUENCER.prefix}/user_history/42"
    async with running_app(auth_settings) as client:
        assert (await client.get(history, headers={"X-API-Key": key})).status_code == 200

    no_mysql = auth_settings.model_copy(update={"database_url": DEAD_DATABASE_URL})
    async with running_app(no_mysql) as client:
        known = await client.get(history, headers={"X-API-Key": key})
        unknown = await client.get(history, headers={"X-API-Key": "im_unknown"})

    assert (known.status_code, known.content) == (200, cached)
    assert_error(unknown, 503, "database_unavailable")


async def test_keys_verify_tells_an_active_key_from_a_revoked_or_unknown_one(
    auth_settings: Settings, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = io.StringIO()
    created = argparse.Namespace(command="keys", action="create", name="verified")
    assert await asyncio.to_thread(run_keys_command, auth_settings, created, out) == 0
    key = out.getvalue().strip()

    def verify(candidate: str) -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO(candidate + "\n"))
        arguments = argparse.Namespace(command="keys", action="verify")
        return run_keys_command(auth_settings, arguments, io.StringIO())

    assert await asyncio.to_thread(verify, key) == 0
    assert await asyncio.to_thread(verify, key + "x") == 1
    assert await asyncio.to_thread(revoke, auth_settings, "verified") == 0
    assert await asyncio.to_thread(verify, key) == 1


@asynccontextmanager
async def counting_queries(
    settings: Settings,
) -> AsyncIterator[tuple[FastAPI, AsyncClient, list[str]]]:
    """A client on an app whose every MySQL statement is appended to the list."""
    app = create_app(settings)
    statements: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    async with serving(app) as client:
        engine = app.state.runtime.engine.sync_engine
        event.listen(engine, "before_cursor_execute", note)
        try:
            yield app, client, statements
        finally:
            event.remove(engine, "before_cursor_execute", note)


async def test_a_flood_of_one_unknown_key_asks_mysql_once(
    auth_settings: Settings, sessions: Sessions
) -> None:
    lenient = auth_settings.model_copy(update={"api_auth_failure_burst": 1000})
    tasks = f"{INFLUENCER.prefix}/tasks"
    async with counting_queries(lenient) as (_, client, statements):
        first = await client.get(tasks, headers={"X-API-Key": "im_guessed"})
        after_first = len(statements)
        for _ in range(50):
            again = await client.get(tasks, headers={"X-API-Key": "im_guessed"})
            assert_error(again, 401, "invalid_api_key")

    assert_error(first, 401, "invalid_api_key")
    assert after_first > 0
    assert len(statements) == after_first


async def test_failed_authentications_are_limited_per_client_address(
    auth_settings: Settings, sessions: Sessions
) -> None:
    strict = auth_settings.model_copy(
        update={"api_auth_failure_burst": 5, "api_auth_failures_per_minute": 1}
    )
    key = await add_api_key(sessions)
    tasks = f"{INFLUENCER.prefix}/tasks"
    async with counting_queries(strict) as (app, client, statements):
        assert (await client.get(tasks, headers={"X-API-Key": key})).status_code == 200
        before_flood = len(statements)
        answers = [
            await client.get(tasks, headers={"X-API-Key": f"im_random-{n}"}) for n in range(200)
        ]
        flood_queries = len(statements) - before_flood
        vouched = await client.get(tasks, headers={"X-API-Key": key})
        other_address = AsyncClient(
            transport=ASGITransport(app=app, client=("203.0.113.7", 4711)),
            base_url="http://api.test",
        )
        async with other_address:
            elsewhere = await other_address.get(tasks, headers={"X-API-Key": "im_random-x"})

    for answer in answers[:5]:
        assert_error(answer, 401, "invalid_api_key")
    for answer in answers[5:]:
        error = assert_error(answer, 429, "too_many_failed_authentications")
        assert int(answer.headers["retry-after"]) >= 1
    assert "retry in" in error["message"]
    # Five lookups, each costing what the valid key's lookup cost at most.
    assert flood_queries <= 5 * before_flood
    assert vouched.status_code == 200
    assert_error(elsewhere, 401, "invalid_api_key")


async def test_looking_up_an_active_key_spends_no_failure(
    auth_settings: Settings, sessions: Sessions
) -> None:
    strict = auth_settings.model_copy(
        update={"api_auth_failure_burst": 1, "api_auth_failures_per_minute": 1}
    )
    fresh_keys = [await add_api_key(sessions, f"client-{n}") for n in range(3)]
    tasks = f"{POST.prefix}/tasks"
    async with running_app(strict) as client:
        for key in fresh_keys:
            assert (await client.get(tasks, headers={"X-API-Key": key})).status_code == 200
        first_failure = await client.get(tasks, headers={"X-API-Key": "im_wrong"})
        second_failure = await client.get(tasks, headers={"X-API-Key": "im_wrong_too"})

    assert_error(first_failure, 401, "invalid_api_key")
    assert_error(second_failure, 429, "too_many_failed_authentications")


async def test_a_busy_client_with_a_valid_key_never_meets_the_failure_budget(
    auth_settings: Settings, sessions: Sessions, redis: Redis, keys: RedisKeys
) -> None:
    strict = auth_settings.model_copy(
        update={"api_auth_failure_burst": 2, "api_auth_failures_per_minute": 1}
    )
    key = await add_api_key(sessions)
    tasks = f"{POST.prefix}/tasks"
    headers = {"X-API-Key": key}
    async with running_app(strict) as client:
        # Many requests at once with a key nobody vouches for yet: one lookup, no failure.
        first = await asyncio.gather(*(client.get(tasks, headers=headers) for _ in range(20)))
        # Its mark near expiry: renewed by one request, the others are never unvouched.
        await redis.expire(keys.api_key_checked(hash_key(key)), 2)
        second = await asyncio.gather(*(client.get(tasks, headers=headers) for _ in range(20)))
        await asyncio.sleep(2.5)
        third = await asyncio.gather(*(client.get(tasks, headers=headers) for _ in range(20)))

    assert [r.status_code for r in first + second + third] == [200] * 60


async def test_a_key_created_after_being_tried_works_at_once(
    guarded: AsyncClient, auth_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "im_tried-before-it-existed"
    tasks = f"{INFLUENCER.prefix}/tasks"
    assert_error(await guarded.get(tasks, headers={"X-API-Key": key}), 401, "invalid_api_key")

    monkeypatch.setattr("services.api.keys_command.new_key", lambda: key)
    created = argparse.Namespace(command="keys", action="create", name="late")
    assert await asyncio.to_thread(run_keys_command, auth_settings, created, io.StringIO()) == 0

    assert (await guarded.get(tasks, headers={"X-API-Key": key})).status_code == 200
