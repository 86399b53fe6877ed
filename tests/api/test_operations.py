"""Probes, metrics, request ids, access logs and the OpenAPI document."""

import asyncio
import re
import uuid
from typing import Any

import pytest
from httpx import AsyncClient
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from services.api.app import create_app
from shared import migrate
from shared.instagram import InvalidInstagramInput, parse_shortcode, parse_username
from shared.settings import Settings
from tests.api.support import (
    DEAD_DATABASE_URL,
    DEAD_REDIS_URL,
    INFLUENCER,
    POST,
    running_app,
    serving,
)
from tests.conftest import database_url_named, drop_database


async def test_healthz_answers_while_the_process_lives(settings: Settings) -> None:
    no_backends = settings.model_copy(
        update={"redis_url": DEAD_REDIS_URL, "database_url": DEAD_DATABASE_URL}
    )
    async with running_app(no_backends) as client:
        response = await client.get("/healthz")
    assert response.json() == {"status_code": 200, "success": True, "data": {"status": "ok"}}


async def test_readyz_when_both_answer(client: AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.json() == {
        "status_code": 200,
        "success": True,
        "data": {"mysql": "ok", "redis": "ok"},
    }


async def test_readyz_names_what_does_not_answer(settings: Settings) -> None:
    cases: list[tuple[dict[str, Any], dict[str, str], str]] = [
        ({"redis_url": DEAD_REDIS_URL}, {"mysql": "ok", "redis": "unavailable"}, "Redis"),
        ({"database_url": DEAD_DATABASE_URL}, {"mysql": "unavailable", "redis": "ok"}, "MySQL"),
    ]
    for update, details, named in cases:
        async with running_app(settings.model_copy(update=update)) as client:
            response = await client.get("/readyz")
        assert response.status_code == 503
        error = response.json()["error"]
        assert (error["code"], error["details"]) == ("not_ready", details)
        assert named in error["message"]


async def test_readyz_is_not_ready_until_the_schema_is_this_versions(
    settings: Settings,
) -> None:
    url = database_url_named(f"im_schema_{uuid.uuid4().hex[:8]}")
    try:
        await asyncio.to_thread(migrate.upgrade, url, "0002")  # the version before this one's
        async with running_app(settings.model_copy(update={"database_url": url})) as client:
            with capture_logs() as logs:
                behind = await client.get("/readyz")
            await asyncio.to_thread(migrate.upgrade, url)
            current = await client.get("/readyz")
    finally:
        await drop_database(url)
    assert behind.status_code == 503
    assert behind.json()["error"]["details"] == {"mysql": "unavailable", "redis": "ok"}
    assert "run the migrations" in logs[0]["error"]
    assert current.status_code == 200


async def test_metrics_count_and_time_requests_by_route_template(client: AsyncClient) -> None:
    for name in ("alice", "bob"):
        await client.get(f"{INFLUENCER.prefix}/user_history/{name}")
    await client.get("/no/such/path")
    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    route = f"{INFLUENCER.prefix}/user_history/{{user_id}}"
    assert f'api_requests_total{{method="GET",route="{route}",status="404"}} 2.0' in response.text
    assert f'api_request_duration_seconds_count{{method="GET",route="{route}"}} 2.0' in (
        response.text
    )
    assert 'api_requests_total{method="GET",route="other",status="404"} 1.0' in response.text
    assert "alice" not in response.text


async def test_every_response_carries_a_request_id_that_the_logs_share(
    client: AsyncClient,
) -> None:
    with capture_logs(processors=[merge_contextvars]) as logs:
        chosen = await client.get("/healthz", headers={"X-Request-ID": "trace-42.a"})
        forged = await client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})
        error = await client.get(f"{POST.prefix}/task_status/not-a-uuid")

    assert chosen.headers["x-request-id"] == "trace-42.a"
    assert forged.headers["x-request-id"] != "bad id\nwith newline"
    assert len(forged.headers["x-request-id"]) == 32
    assert len(error.headers["x-request-id"]) == 32
    requests = [log for log in logs if log["event"] == "api.request"]
    assert [log["request_id"] for log in requests] == [
        "trace-42.a",
        forged.headers["x-request-id"],
        error.headers["x-request-id"],
    ]
    assert requests[2]["status"] == 422
    assert requests[2]["route"] == f"{POST.prefix}/task_status/{{task_id}}"


async def test_an_unexpected_error_is_a_500_in_the_envelope(settings: Settings) -> None:
    app = create_app(settings)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("unexpected")

    with capture_logs() as logs:
        async with serving(app) as client:
            response = await client.get("/boom")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "unexpected" not in response.text
    assert response.headers["x-request-id"]
    assert "api.unhandled_error" in [log["event"] for log in logs]


async def test_the_openapi_document_describes_every_route_with_examples(
    client: AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    operations = {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    api_routes = [key for key in operations if key[1].startswith("/api/v1/")]
    # The seed's 14, the two statistics routes, per kind two exports and an import, bulk
    # create, update_task, pause_tasks and resume_tasks; the 11 webhook and alert routes; usage.
    assert len(api_routes) == 42
    for key in api_routes:
        responses = operations[key]["responses"]
        success = next(code for code in responses if code.startswith("2"))
        if key[1].endswith("/export"):  # a file, not an envelope
            content = responses[success]["content"]
            assert set(content) == {"text/csv; charset=utf-8", "application/x-ndjson"}, key
            assert all(media["example"] for media in content.values()), key
            continue
        assert "example" in responses[success]["content"]["application/json"], key
        assert "$ref" in str(responses[success]["content"]["application/json"]["schema"]), key
    imports = operations[("POST", f"{INFLUENCER.prefix}/user_history/{{user_id}}/import")]
    assert {"404", "413", "415", "422"} <= set(imports["responses"])
    assert set(imports["requestBody"]["content"]) == {"text/csv", "application/x-ndjson"}
    create = operations[("POST", f"{INFLUENCER.prefix}/create_monitor_task")]
    assert "409" in create["responses"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "CreateInfluencerTask"
    )
    schemas = document["components"]["schemas"]
    assert schemas["CreateInfluencerTask"]["examples"][0] == {
        "username": "instagram",
        "interval": "1h",
    }
    assert schemas["CreateInfluencerTask"]["properties"]["track_posts"]["default"] is False
    # Every engagement field says what it is.
    for name in ("Engagement", "SampledPost"):
        for field, spec in schemas[name]["properties"].items():
            assert spec.get("description"), (name, field)
    listing = operations[("GET", f"{INFLUENCER.prefix}/tasks")]["responses"]["200"]
    assert 'rel="next"' in listing["headers"]["Link"]["example"]
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text


# Every error code the API answers with; each is produced by a test of its own behaviour.
ERROR_CODES = {
    "invalid_json",
    "missing_api_key",
    "invalid_api_key",
    "cross_site_request",
    "task_not_found",
    "already_monitored",
    "task_stopped",
    "payload_too_large",
    "too_many_points",
    "unsupported_media_type",
    "invalid_header",
    "invalid_encoding",
    "request_timeout",
    "validation_error",
    "rate_limited",
    "too_many_failed_authentications",
    "internal_error",
    "database_unavailable",
    "redis_unavailable",
    "not_ready",
    "webhook_not_found",
    "delivery_not_found",
    "alert_not_found",
    "webhook_disabled",
    "delivery_succeeded",
    "webhook_target_refused",
}


async def openapi_document(settings: Settings) -> dict[str, Any]:
    async with running_app(settings.model_copy(update={"api_auth": "required"})) as client:
        document: dict[str, Any] = (await client.get("/openapi.json")).json()
    return document


async def openapi_operations(settings: Settings) -> dict[tuple[str, str], Any]:
    document = await openapi_document(settings)
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }


async def test_each_documented_error_has_an_example_of_its_own_status(settings: Settings) -> None:
    operations = await openapi_operations(settings)
    for key, operation in operations.items():
        for status, response in operation["responses"].items():
            if status.startswith("2"):
                continue
            examples = response["content"]["application/json"]["examples"]
            assert examples, (key, status)
            for name, example in examples.items():
                value = example["value"]
                assert value["status_code"] == int(status), (key, status, name)
                assert value["success"] is False
                assert value["error"]["code"] == name
                assert name in ERROR_CODES, (key, status, name)
    readiness = operations[("GET", "/readyz")]["responses"]["503"]
    assert set(readiness["content"]["application/json"]["examples"]) == {"not_ready"}


async def test_task_routes_declare_server_errors_and_auth(settings: Settings) -> None:
    operations = await openapi_operations(settings)
    api_routes = [key for key in operations if key[1].startswith("/api/v1/")]
    assert api_routes
    for key in api_routes:
        assert {"401", "429", "500", "503"} <= set(operations[key]["responses"]), key


def _parameter(operation: dict[str, Any], name: str) -> dict[str, Any]:
    schema: dict[str, Any] = next(
        parameter["schema"] for parameter in operation["parameters"] if parameter["name"] == name
    )
    return schema


def _accepts(parse: Any, value: str) -> bool:
    try:
        parse(value)
    except InvalidInstagramInput:
        return False
    return True


@pytest.mark.parametrize(
    "value",
    ["instagram", "@natgeo", " the.rock ", "a_b.c", "x" * 30, "x" * 31, "a..b", ".a", "a.", "a-b"],
)
async def test_the_schema_publishes_the_username_rules(settings: Settings, value: str) -> None:
    document = await openapi_document(settings)
    create = document["components"]["schemas"]["CreateInfluencerTask"]
    history = document["paths"][f"{INFLUENCER.prefix}/user_history/{{user_id}}"]["get"]
    for pattern in (
        create["properties"]["username"]["pattern"],
        _parameter(history, "user_id")["pattern"],
    ):
        assert bool(re.search(pattern, value)) == _accepts(parse_username, value), pattern


@pytest.mark.parametrize("value", ["CxYQJO8xuC6", "B_x-y_Z12", "x" * 64, "x" * 65, "Cx.YQ", ""])
async def test_the_schema_publishes_the_post_code_rules(settings: Settings, value: str) -> None:
    operations = await openapi_operations(settings)
    history = operations[("GET", f"{POST.prefix}/video_history/{{post_code}}")]
    schema = _parameter(history, "post_code")
    assert schema["maxLength"] == 64
    assert bool(re.search(schema["pattern"], value)) == _accepts(parse_shortcode, value)


async def test_both_history_routes_publish_granularity(settings: Settings) -> None:
    document = await openapi_document(settings)
    assert document["components"]["schemas"]["Granularity"]["enum"] == ["raw", "hour", "day"]
    for path in (
        f"{INFLUENCER.prefix}/user_history/{{user_id}}",
        f"{POST.prefix}/video_history/{{post_code}}",
    ):
        parameter = next(
            p for p in document["paths"][path]["get"]["parameters"] if p["name"] == "granularity"
        )
        assert parameter["schema"]["default"] == "raw"
        # Clients must learn that the bucketed views leave fallback points out.
        assert "fallback points are left out" in parameter["description"]
