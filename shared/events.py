"""The events webhooks receive, and the outbox that holds them until they are delivered.

`record_event` writes an event in the caller's transaction, so an event exists exactly when
the change that caused it was committed: a crash before the commit loses both, never one.
"""

import enum
import uuid
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import utcnow
from shared.repositories.webhooks import WebhookRepository


class EventType(enum.StrEnum):
    """The catalogue of events (api.md, "Alerts and webhooks")."""

    ALERT_TRIGGERED = "alert.triggered"
    ALERT_RESOLVED = "alert.resolved"
    MILESTONE_REACHED = "milestone.reached"
    TASK_FAILING = "task.failing"
    TASK_RECOVERED = "task.recovered"
    TASK_UNAVAILABLE = "task.unavailable"
    BUDGET_EXCEEDED = "budget.exceeded"
    WEBHOOK_TEST = "webhook.test"


# Receivers commonly cap a request's body; every event of the catalogue is far smaller.
MAX_BODY_BYTES = 20 * 1024
SUBSCRIBERS_KEY = "webhook_subscribers"


async def _subscribers(
    session: AsyncSession, webhooks: WebhookRepository, event_type: str, only: str | None
) -> list[str]:
    # A batch of points can raise an event per point: the subscribers are read once per
    # transaction, which alone could change them before it ends.
    transaction = session.get_transaction()
    held = session.info.get(SUBSCRIBERS_KEY)
    if held is None or held[0] is not transaction:
        held = session.info[SUBSCRIBERS_KEY] = (transaction, {})
    known: dict[tuple[str, str | None], list[str]] = held[1]
    if (event_type, only) not in known:
        known[event_type, only] = await webhooks.subscribers(event_type, only=only)
    return known[event_type, only]


class EventTooLarge(ValueError):
    """An event whose body would be over MAX_BODY_BYTES."""


async def record_event(
    session: AsyncSession,
    event_type: EventType,
    data: dict[str, Any],
    *,
    now: datetime | None = None,
    webhook_id: str | None = None,
) -> str | None:
    """Write an event and a pending delivery of it to each enabled webhook subscribed to
    `event_type` (only to `webhook_id`, whatever it subscribed to, when given) in the caller's
    transaction; return the event's id, or None when no webhook takes it (then nothing is
    written)."""
    event_type = EventType(event_type)  # a plain string is checked against the catalogue
    webhooks = WebhookRepository(session)
    subscribers = await _subscribers(session, webhooks, event_type, webhook_id)
    if not subscribers:
        return None
    now = now or utcnow()
    body = orjson.dumps(
        {"type": event_type, "timestamp": now, "data": data},
        option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC,
    )
    if len(body) > MAX_BODY_BYTES:
        raise EventTooLarge(f"a {event_type} event of {len(body)} bytes is over {MAX_BODY_BYTES}")
    # Standard Webhooks' style of message id; 36 characters.
    event_id = f"msg_{uuid.uuid4().hex}"
    await webhooks.add_event(event_id, event_type, body.decode(), webhook_ids=subscribers, now=now)
    return event_id
