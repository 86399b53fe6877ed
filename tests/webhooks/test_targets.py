"""Webhooks cannot reach the services' own network unless the operator allows it."""

import pytest
from httpx import AsyncClient

from services.collector.webhooks import WebhookSender, webhook_client
from shared.settings import Settings
from shared.webhook_targets import RefusedTarget, check_target
from tests.api.support import Sessions, running_app
from tests.webhooks.conftest import Clock, create_webhook, run_due
from tests.webhooks.receiver import Receiver


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://localhost/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.1.2.3/hook", "private"),
        ("http://192.168.0.10/hook", "private"),
        ("http://100.100.100.200/latest/meta-data/", "private or reserved"),
        ("http://[::ffff:127.0.0.1]/hook", "private or reserved"),
        ("http://0.0.0.0/hook", "private or reserved"),
    ],
)
async def test_internal_addresses_are_refused(url: str, why: str) -> None:
    with pytest.raises(RefusedTarget, match=why):
        await check_target(url, allow_private=False)
    await check_target(url, allow_private=True)


@pytest.mark.parametrize(
    ("url", "why"),
    [("ftp://files.example.com/", "http:// or https://"), ("http:///path", "no host")],
)
async def test_only_http_urls_with_a_host_are_taken(url: str, why: str) -> None:
    with pytest.raises(RefusedTarget, match=why):
        await check_target(url, allow_private=True)


async def test_a_public_address_is_taken() -> None:
    await check_target("https://93.184.215.14/hooks", allow_private=False)


async def test_the_api_refuses_a_webhook_to_this_machine_unless_the_setting_allows_it(
    settings: Settings, sessions: Sessions, receiver: Receiver
) -> None:
    async with running_app(settings) as strict:
        refused = await strict.post("/api/v1/webhooks", json={"url": receiver.url})
        assert refused.status_code == 422
        error = refused.json()["error"]
        assert error["code"] == "webhook_target_refused"
        assert "127.0.0.1, a loopback address" in error["message"]
        assert "WEBHOOK_ALLOW_PRIVATE_TARGETS" in error["message"]
        assert error["details"][0]["field"] == "url"
        assert (await strict.get("/api/v1/webhooks")).json()["data"] == []
    lenient = settings.model_copy(update={"webhook_allow_private_targets": True})
    async with running_app(lenient) as client:
        assert (
            await client.post("/api/v1/webhooks", json={"url": receiver.url})
        ).status_code == 201


async def test_a_delivery_to_an_address_refused_since_is_not_sent(
    client: AsyncClient, sessions: Sessions, clock: Clock, receiver: Receiver
) -> None:
    webhook = await create_webhook(client, receiver.url)
    await client.post(f"/api/v1/webhooks/{webhook['webhook_id']}/test")
    http = webhook_client()
    strict = WebhookSender(sessions, http, allow_private_targets=False, clock=clock)
    try:
        assert await run_due(sessions, strict, clock.now) == ["retrying"]
    finally:
        await http.aclose()
    assert receiver.requests() == []
    [delivery] = (await client.get(f"/api/v1/webhooks/{webhook['webhook_id']}/deliveries")).json()[
        "data"
    ]
    assert delivery["response_status"] is None
    assert delivery["last_error"].startswith("refused: the host 127.0.0.1 resolves to 127.0.0.1")


async def test_bad_webhook_bodies_get_a_clear_422(client: AsyncClient) -> None:
    for body, field in (
        ({"url": "http://127.0.0.1/", "event_types": ["alert.fired"]}, "event_types"),
        ({"url": "http://127.0.0.1/", "event_types": []}, "event_types"),
        ({"url": "http://127.0.0.1/", "secret": "mine"}, "secret"),
        ({}, "url"),
    ):
        response = await client.post("/api/v1/webhooks", json=body)
        assert response.status_code == 422, body
        assert field in response.json()["error"]["message"]
    missing = await client.get("/api/v1/webhooks/5b0c6a4e-8f43-4a57-9d2e-2f1d0b8e6c11")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "webhook_not_found"
    assert (await client.get("/api/v1/webhooks/nope")).status_code == 422
    assert (await client.post("/api/v1/webhooks/deliveries/99/retry")).status_code == 404
    deleted = await client.delete("/api/v1/webhooks/5b0c6a4e-8f43-4a57-9d2e-2f1d0b8e6c11")
    assert deleted.status_code == 404


async def test_a_wrong_method_is_told_every_method_the_path_takes(client: AsyncClient) -> None:
    response = await client.put("/api/v1/webhooks")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert "use GET, POST" in response.json()["error"]["message"]
    alert = await client.post("/api/v1/alerts/9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f")
    assert alert.headers["allow"] == "DELETE, GET"
