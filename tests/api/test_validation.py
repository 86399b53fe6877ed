"""Bad input of every sort is a 4xx in the error envelope with a message that says what to fix."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from httpx import AsyncClient

from shared.settings import Settings
from tests.api.support import INFLUENCER, POST, Kind, assert_error, running_app

INFLUENCER_CREATE = f"{INFLUENCER.prefix}/create_monitor_task"
POST_CREATE = f"{POST.prefix}/create_monitor_task"


async def test_a_body_that_is_not_json_is_a_400(client: AsyncClient, kind: Kind) -> None:
    response = await client.post(
        f"{kind.prefix}/create_monitor_task",
        content=b'{"interval": "1h",',
        headers={"Content-Type": "application/json"},
    )
    error = assert_error(response, 400, "invalid_json")
    assert "not valid JSON" in error["message"]


async def test_a_body_sent_without_a_json_content_type_is_refused(client: AsyncClient) -> None:
    response = await client.post(
        INFLUENCER_CREATE,
        content=b'{"username": "natgeo", "interval": "1h"}',
        headers={"Content-Type": "text/plain"},
    )
    error = assert_error(response, 422, "validation_error")
    assert "Content-Type: application/json" in error["message"]


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"interval": "1h"}, "username", "Field required"),
        ({"username": "natgeo"}, "interval", "Field required"),
        ({"username": "natgeo", "interval": "2h"}, "interval", "'30s', '30m', '1h', '1d' or '7d'"),
        ({"username": "natgeo", "interval": 3600}, "interval", "'30s', '30m', '1h', '1d' or '7d'"),
        ({"username": 42, "interval": "1h"}, "username", "valid string"),
        ({"username": "nat geo!", "interval": "1h"}, "username", "only letters, digits"),
        ({"username": "a" * 31, "interval": "1h"}, "username", "at most 30 characters, not 31"),
        ({"username": "a" * 65, "interval": "1h"}, "username", "at most 64 characters, not 65"),
        ({"username": "nat..geo", "interval": "1h"}, "username", "two '.' in a row"),
        ({"username": "@", "interval": "1h"}, "username", "empty"),
        # The Kelvin sign lower-cases to an ASCII "k", yet is no letter Instagram allows.
        ({"username": "\u212aelvin", "interval": "1h"}, "username", "only letters, digits"),
        ({"username": "natgeo", "interval": "1h", "extra": 1}, "extra", "Extra inputs"),
    ],
)
async def test_invalid_influencer_bodies_name_the_field(
    client: AsyncClient, body: dict[str, Any], field: str, says: str
) -> None:
    error = assert_error(await client.post(INFLUENCER_CREATE, json=body), 422, "validation_error")
    assert says in error["message"]
    assert field in error["message"]
    assert field in [problem["field"] for problem in error["details"]]


@pytest.mark.parametrize(
    "post_url",
    ["CxYQJO8xuC6", "https://m.instagram.com/reel/CxYQJO8xuC6/", "instagr.am/p/CxYQJO8xuC6"],
)
async def test_post_links_as_shared_are_monitored_by_their_exact_code(
    client: AsyncClient, post_url: str
) -> None:
    response = await client.post(POST_CREATE, json={"post_url": post_url, "interval": "1h"})
    assert response.status_code == 201, response.text
    assert response.json()["data"]["post_code"] == "CxYQJO8xuC6"


@pytest.mark.parametrize(
    ("post_url", "says"),
    [
        ("https://www.tiktok.com/p/CxYQJO8xuC6/", "must be on instagram.com"),
        ("https://www.instagram.com/natgeo/", "must look like https://www.instagram.com/p/<code>/"),
        ("https://www.instagram.com/p/", "must look like"),
        ("ftp://instagram.com/p/CxYQJO8xuC6/", "http(s) URL"),
        ("https://www.instagram.com/p/Cx!YQ/", "post code may contain only"),
        ("https://me@www.instagram.com/p/CxYQJO8xuC6/", "must not contain a user name"),
        ("", "post_url is empty"),
        ("http://[::1", "not a valid URL"),
    ],
)
async def test_invalid_post_urls_say_what_is_wrong(
    client: AsyncClient, post_url: str, says: str
) -> None:
    response = await client.post(POST_CREATE, json={"post_url": post_url, "interval": "1h"})
    error = assert_error(response, 422, "validation_error")
    assert says in error["message"]
    assert error["details"][0]["field"] == "post_url"


@pytest.mark.parametrize("body", [[], "natgeo", None, 12])
async def test_a_body_that_is_not_an_object_is_refused(client: AsyncClient, body: Any) -> None:
    assert_error(await client.post(INFLUENCER_CREATE, json=body), 422, "validation_error")


async def test_a_missing_body_is_refused(client: AsyncClient) -> None:
    error = assert_error(
        await client.post(INFLUENCER_CREATE, headers={"Content-Type": "application/json"}),
        422,
        "validation_error",
    )
    assert "body is missing" in error["message"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"task_ids": []}, "at least 1 item"),
        (
            {"task_ids": ["00000000-0000-4000-8000-000000000000"] * 1001},
            "must have at most 1000 items, not 1001",
        ),
        ({"task_ids": ["not-a-uuid"]}, "valid UUID"),
        ({"task_ids": "00000000-0000-4000-8000-000000000000"}, "valid list"),
    ],
)
async def test_invalid_stop_bodies_are_refused(
    client: AsyncClient, kind: Kind, body: dict[str, Any], says: str
) -> None:
    error = assert_error(
        await client.post(f"{kind.prefix}/stop_tasks", json=body), 422, "validation_error"
    )
    assert says in error["message"]
    assert error["details"][0]["field"].startswith("task_ids")


@pytest.mark.parametrize("action", ["stop_tasks", "pause_tasks", "resume_tasks"])
@pytest.mark.parametrize(
    "body", [{}, {"task_ids": ["00000000-0000-4000-8000-000000000000"], "tag": "x"}]
)
async def test_bulk_actions_take_either_ids_or_a_tag(
    client: AsyncClient, kind: Kind, action: str, body: dict[str, Any]
) -> None:
    error = assert_error(
        await client.post(f"{kind.prefix}/{action}", json=body), 422, "validation_error"
    )
    assert "give either task_ids or tag, not both or neither" in error["message"]


async def test_many_problems_are_summarised_and_all_listed(client: AsyncClient) -> None:
    body = {"task_ids": [f"bad-{n}" for n in range(5)]}
    error = assert_error(
        await client.post(f"{POST.prefix}/stop_tasks", json=body), 422, "validation_error"
    )
    assert "and 2 more" in error["message"]
    assert len(error["details"]) == 5


async def test_an_oversized_body_is_a_413(settings: Settings, kind: Kind) -> None:
    small = settings.model_copy(update={"api_max_body_bytes": 1024})
    async with running_app(small) as client:
        body = {"task_ids": ["00000000-0000-4000-8000-000000000000"] * 100}
        declared = await client.post(f"{kind.prefix}/stop_tasks", json=body)
        error = assert_error(declared, 413, "payload_too_large")
        assert "1024 bytes" in error["message"]

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(4):
                yield b" " * 400

        streamed = await client.post(
            f"{kind.prefix}/stop_tasks",
            content=chunks(),
            headers={"Content-Type": "application/json"},
        )
        assert_error(streamed, 413, "payload_too_large")


async def test_a_body_that_stalls_is_a_408(settings: Settings, kind: Kind) -> None:
    impatient = settings.model_copy(update={"api_body_timeout_seconds": 0.3})
    never = asyncio.Event()

    async def stalling() -> AsyncIterator[bytes]:
        yield b'{"task_ids": ['
        await never.wait()

    async def slow_but_in_time() -> AsyncIterator[bytes]:
        yield b'{"task_ids": '
        await asyncio.sleep(0.1)
        yield b'["00000000-0000-4000-8000-000000000000"]}'

    json_type = {"Content-Type": "application/json"}
    async with running_app(impatient) as client:
        # Without a body timeout this would wait forever; the test fails instead.
        async with asyncio.timeout(5):
            stalled = await client.post(
                f"{kind.prefix}/stop_tasks", content=stalling(), headers=json_type
            )
        in_time = await client.post(
            f"{kind.prefix}/stop_tasks", content=slow_but_in_time(), headers=json_type
        )

    error = assert_error(stalled, 408, "request_timeout")
    assert "0.3 s" in error["message"]
    assert in_time.status_code == 200, in_time.text


async def test_unknown_routes_and_methods_use_the_envelope(client: AsyncClient) -> None:
    error = assert_error(await client.get("/api/v1/instagram/nothing_here"), 404, "route_not_found")
    assert "/docs" in error["message"]
    response = await client.get(INFLUENCER_CREATE)
    error = assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"
    assert "use POST" in error["message"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(
            b'{"username": "\xff\xfe", "interval": "1h"}', "it is not UTF-8", id="not UTF-8"
        ),
        pytest.param(
            b"[" * 100_000 + b"]" * 100_000, "it is nested too deeply", id="deeply nested"
        ),
        pytest.param(
            b'{"username": "natgeo", "interval": 1' + b"0" * 5000 + b"}",
            "a number in it has too many digits",
            id="huge number",
        ),
    ],
)
async def test_bodies_json_cannot_hold_are_a_400(
    client: AsyncClient, kind: Kind, body: bytes, reason: str
) -> None:
    response = await client.post(
        f"{kind.prefix}/create_monitor_task",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    error = assert_error(response, 400, "invalid_json")
    assert f"not valid JSON ({reason})" in error["message"]
