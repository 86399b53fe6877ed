"""Delivering events to a real receiver: signed, retried on schedule, logged, never twice."""

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from standardwebhooks.webhooks import Webhook

from services.collector.webhooks import (
    RETRY_DELAYS,
    WebhookSender,
    signed_headers,
    webhook_client,
)
from shared.events import EventTooLarge, EventType, record_event
from shared.jobs import DELIVERY_LEASE
from shared.repositories.webhooks import AttemptTarget, DueDelivery, WebhookRepository
from tests.api.support import Sessions
from tests.webhooks.conftest import Clock, create_webhook, run_due
from tests.webhooks.receiver import Receiver


async def deliveries(client: AsyncClient, webhook_id: object) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/webhooks/{webhook_id}/deliveries")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    return found


async def claimed_test_event(
    client: AsyncClient, sessions: Sessions, clock: Clock, receiver: Receiver
) -> tuple[dict[str, object], DueDelivery]:
    """A new webhook's test event, claimed as the scheduler claims it."""
    webhook = await create_webhook(client, receiver.url)
    await client.post(f"/api/v1/webhooks/{webhook['webhook_id']}/test")
    async with sessions.begin() as session:
        [due] = await WebhookRepository(session).claim_due(
            now=clock.now, limit=10, lease=DELIVERY_LEASE
        )
    return webhook, due


async def test_a_test_event_arrives_signed_with_the_secret_shown_at_creation(
    client: AsyncClient, sessions: Sessions, sender: WebhookSender, clock: Clock, receiver: Receiver
) -> None:
    webhook = await create_webhook(client, receiver.url, description="team channel")
    assert str(webhook["secret"]).startswith("whsec_")
    listed = (await client.get("/api/v1/webhooks")).json()["data"]
    assert [w["webhook_id"] for w in listed] == [webhook["webhook_id"]]
    assert "secret" not in listed[0]  # shown once only

    sent = await client.post(f"/api/v1/webhooks/{webhook['webhook_id']}/test")
    assert sent.status_code == 202, sent.text
    event_id = sent.json()["data"]["event_id"]
    assert await run_due(sessions, sender, clock.now) == ["succeeded"]

    [request] = receiver.requests()
    assert request.headers["webhook-id"] == event_id
    assert request.headers["content-type"] == "application/json"
    payload = request.verified(str(webhook["secret"]))
    assert payload["type"] == "webhook.test"
    assert payload["data"]["webhook_id"] == webhook["webhook_id"]
    assert payload["timestamp"].endswith("Z")
    # Another secret does not verify it.
    other = "whsec_" + "A" * 43 + "="
    with pytest.raises(Exception, match="signature"):
        request.verified(other)
    [delivery] = await deliveries(client, webhook["webhook_id"])
    assert delivery["event_id"] == event_id
    assert delivery["event_type"] == "webhook.test"
    assert (delivery["status"], delivery["attempts"], delivery["response_status"]) == (
        "succeeded",
        1,
        200,
    )
    assert delivery["next_attempt_at"] is None
    [attempt] = delivery["attempt_log"]
    assert (attempt["outcome"], attempt["response_status"], attempt["error"]) == (
        "succeeded",
        200,
        None,
    )
    assert attempt["duration_ms"] >= 0


async def test_a_failed_attempt_is_retried_after_5_s_with_the_same_webhook_id(
    client: AsyncClient, sessions: Sessions, sender: WebhookSender, clock: Clock, receiver: Receiver
) -> None:
    webhook = await create_webhook(client, receiver.url)
    receiver.answer(500)
    await client.post(f"/api/v1/webhooks/{webhook['webhook_id']}/test")
    assert await run_due(sessions, sender, clock.now) == ["retrying"]
    [delivery] = await deliveries(client, webhook["webhook_id"])
    assert (delivery["status"], delivery["response_status"]) == ("retrying", 500)
    assert delivery["last_error"] == "the receiver answered 500"

    # Not due a moment before its 5 s are up...
    assert await run_due(sessions, sender, clock.now + timedelta(seconds=4.9)) == []
    clock.advance(timedelta(seconds=5))
    # ...and due once they are.
    assert await run_due(sessions, sender, clock.now) == ["succeeded"]

    first, second = receiver.requests()
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert second.verified(str(webhook["secret"]))["type"] == "webhook.test"
    [delivery] = await deliveries(client, webhook["webhook_id"])
    assert [
        (a["attempt"], a["outcome"], a["response_status"]) for a in delivery["attempt_log"]
    ] == [
        (1, "failed", 500),
        (2, "succeeded", 200),
    ]


async def test_a_receiver_that_keeps_failing_gets_the_whole_schedule_then_the_delivery_fails(
    client: AsyncClient, sessions: Sessions, sender: WebhookSender, clock: Clock, receiver: Receiver
) -> None:
    webhook = await create_webhook(client, receiver.url)
    receiver.answer(*[503] * 20)
    await client.post(f"/api/v1/webhooks/{webhook['webhook_id']}/test")
    waits = []
    for _ in range(len(RETRY_DELAYS)):
        assert await run_due(sessions, sender, clock.now) == ["retrying"]
        [delivery] = await deliveries(client, webhook["webhook_id"])
        attempted = clock.now
        async with sessions() as session:
            found = await WebhookRepository(session).get_delivery(delivery["delivery_id"])
            assert found is not None
            assert found.next_attempt_at is not None
            waits.append(found.next_attempt_at - attempted)
            clock.now = found.next_attempt_at
    assert await run_due(sessions, sender, clock.now) == ["failed"]

    assert [w.total_seconds() for w in waits] == [5, 300, 1800, 7200, 18000, 36000, 36000]
    [delivery] = await deliveries(client, webhook["webhook_id"])
    assert (delivery["status"], delivery["attempts"]) == ("failed", 8)
    assert len(receiver.requests()) == 8
    # Nothing is due any more.
    assert await run_due(sessions, sender, clock.now + timedelta(days=30)) == []

    # A manual retry gives it one more attempt.
    retried = await client.post(f"/api/v1/webhooks/deliveries/{delivery['delivery_id']}/retry")
    assert retried.status_code == 202, retried.text
    receiver.answers.clear()
    assert await run_due(sessions, sender, clock.now + timedelta(seconds=1)) == ["succeeded"]
    again = await client.post(f"/api/v1/webhooks/deliveries/{delivery['delivery_id']}/retry")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "delivery_succeeded"


async def test_410_gone_disables_the_webhook_and_says_so(
    client: AsyncClient, sessions: Sessions, sender: WebhookSender, clock: Clock, receiver: Receiver
) -> None:
    webhook = await create_webhook(client, receiver.url)
    receiver.answer(410)
    async with sessions.begin() as session:
        for _ in range(2):
            await record_event(session, EventType.WEBHOOK_TEST, {"n": 1})
    # One attempt is made, gets 410: the other delivery will not be attempted.
    async with sessions.begin() as session:
        [first, _] = await WebhookRepository(session).claim_due(
            now=clock.now, limit=2, lease=DELIVERY_LEASE
        )
    assert await sender.deliver([(first.delivery_id, first.attempt)]) == ["failed"]

    shown = (await client.get(f"/api/v1/webhooks/{webhook['webhook_id']}")).json()["data"]
    assert shown["enabled"] is False
    assert shown["disabled_reason"] == "the receiver answered 410 Gone"
    assert shown["disabled_at"] is not None
    assert {d["status"] for d in await deliveries(client, webhook["webhook_id"])} == {"failed"}
    assert await run_due(sessions, sender, clock.now + timedelta(hours=1)) == []
    assert len(receiver.requests()) == 1
    refused = await client.post(f"/api/v1/webhooks/{webhook['webhook_id']}/test")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "webhook_disabled"


async def test_an_event_goes_to_the_enabled_webhooks_subscribed_to_its_type(
    client: AsyncClient, sessions: Sessions, receiver: Receiver
) -> None:
    everything = await create_webhook(client, receiver.url)
    milestones = await create_webhook(client, receiver.url, event_types=["milestone.reached"])
    async with sessions.begin() as session:
        alert_event = await record_event(session, EventType.ALERT_TRIGGERED, {"alert_id": "a"})
        milestone_event = await record_event(session, EventType.MILESTONE_REACHED, {"milestone": 2})
    assert alert_event is not None
    assert milestone_event is not None
    assert [d["event_id"] for d in await deliveries(client, everything["webhook_id"])] == [
        milestone_event,
        alert_event,
    ]
    assert [d["event_id"] for d in await deliveries(client, milestones["webhook_id"])] == [
        milestone_event
    ]


async def test_an_event_nobody_takes_is_not_stored_and_an_oversized_one_is_refused(
    client: AsyncClient, sessions: Sessions, receiver: Receiver
) -> None:
    async with sessions.begin() as session:
        assert await record_event(session, EventType.ALERT_TRIGGERED, {"alert_id": "a"}) is None
    with pytest.raises(ValueError, match="is not a valid EventType"):
        async with sessions.begin() as session:
            await record_event(session, "alert.fired", {})  # type: ignore[arg-type]
    webhook = await create_webhook(client, receiver.url)
    with pytest.raises(EventTooLarge, match="over 20480"):
        async with sessions.begin() as session:
            await record_event(session, EventType.WEBHOOK_TEST, {"text": "x" * 20_480})
    assert await deliveries(client, webhook["webhook_id"]) == []


async def test_an_attempt_cut_off_by_a_crash_is_logged_and_the_next_is_claimed_after_the_lease(
    client: AsyncClient, sessions: Sessions, sender: WebhookSender, clock: Clock, receiver: Receiver
) -> None:
    webhook, due = await claimed_test_event(client, sessions, clock, receiver)
    # The process logs attempt 1 as sending, then dies before (or while) sending it.
    async with sessions.begin() as session:
        assert await WebhookRepository(session).start_attempts(
            [(due.delivery_id, due.attempt)], now=clock.now, lease=DELIVERY_LEASE
        )
    # arq runs the vanished job again: attempt 1 was made already, so it does nothing.
    assert await sender.deliver([(due.delivery_id, due.attempt)]) == ["skipped"]
    # Within the lease nothing is claimed; after it, attempt 2.
    assert await run_due(sessions, sender, clock.now + DELIVERY_LEASE / 2) == []
    clock.advance(DELIVERY_LEASE)
    assert await run_due(sessions, sender, clock.now) == ["succeeded"]

    assert len(receiver.requests()) == 1
    [delivery] = await deliveries(client, webhook["webhook_id"])
    assert [(a["attempt"], a["outcome"]) for a in delivery["attempt_log"]] == [
        (1, "interrupted"),
        (2, "succeeded"),
    ]


async def test_two_collectors_running_the_same_attempt_send_it_once(
    client: AsyncClient, sessions: Sessions, clock: Clock, receiver: Receiver
) -> None:
    _, due = await claimed_test_event(client, sessions, clock, receiver)
    clients = [webhook_client() for _ in range(4)]
    senders = [WebhookSender(sessions, c, allow_private_targets=True, clock=clock) for c in clients]
    try:
        outcomes = await asyncio.gather(
            *(s.deliver([(due.delivery_id, due.attempt)]) for s in senders)
        )
    finally:
        for c in clients:
            await c.aclose()
    assert sorted(outcomes) == [["skipped"]] * 3 + [["succeeded"]]
    assert len(receiver.requests()) == 1


async def test_a_stale_claim_of_an_attempt_already_made_sends_nothing(
    client: AsyncClient, sessions: Sessions, sender: WebhookSender, clock: Clock, receiver: Receiver
) -> None:
    webhook = await create_webhook(client, receiver.url)
    await client.post(f"/api/v1/webhooks/{webhook['webhook_id']}/test")
    [_] = await run_due(sessions, sender, clock.now)
    [delivery] = await deliveries(client, webhook["webhook_id"])
    # The job of attempt 1 arrives again (Redis gave it twice), and one of an attempt 3.
    assert await sender.deliver([(delivery["delivery_id"], 1)]) == ["skipped"]
    assert await sender.deliver([(delivery["delivery_id"], 3)]) == ["skipped"]
    assert len(receiver.requests()) == 1


async def test_the_secret_signs_each_attempt_at_its_own_time(clock: Clock) -> None:
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    target = AttemptTarget(1, 1, "w", "http://x", secret, "msg_1", '{"type":"webhook.test"}')
    headers = signed_headers(target, clock.now)
    assert headers["webhook-timestamp"] == str(int(clock.now.timestamp()))
    assert Webhook(secret).verify(target.body, headers)["type"] == "webhook.test"
