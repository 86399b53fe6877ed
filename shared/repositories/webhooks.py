"""Webhooks, the outbox of their events and deliveries, and the log of delivery attempts."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import (
    AttemptOutcome,
    DeliveryStatus,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
)

OPEN_STATUSES = tuple(status for status in DeliveryStatus if status.open)


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A delivery (of event `event_id`) claimed for its next attempt, number `attempt`."""

    delivery_id: int
    attempt: int
    event_id: str


@dataclass(frozen=True, slots=True)
class AttemptTarget:
    """What one attempt sends: the event's body to the webhook's URL, signed with its secret."""

    webhook_id: str
    url: str
    secret: str
    event_id: str
    body: str


@dataclass(frozen=True, slots=True)
class DeliveryLog:
    """A delivery as its webhook's log shows it: with its event's type and its attempts."""

    delivery: WebhookDelivery
    event_type: str
    attempts: list[WebhookAttempt]


class WebhookRepository:
    """Webhook queries; the caller commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(
        self,
        *,
        url: str,
        description: str | None,
        event_types: list[str] | None,
        secret: str,
        now: datetime,
    ) -> Webhook:
        """Store a new, enabled webhook."""
        webhook = Webhook(
            url=url,
            description=description,
            event_types=event_types,
            secret=secret,
            enabled=True,
            created_at=now,
        )
        self.session.add(webhook)
        await self.session.flush()
        return webhook

    async def all(self) -> list[Webhook]:
        """Every webhook, oldest first."""
        rows = await self.session.scalars(select(Webhook).order_by(Webhook.created_at, Webhook.id))
        return list(rows)

    async def get(self, webhook_id: str) -> Webhook | None:
        return await self.session.get(Webhook, webhook_id)

    async def delete(self, webhook_id: str) -> bool:
        """Delete a webhook and its deliveries; False when there was none."""
        result = await self.session.execute(delete(Webhook).where(Webhook.id == webhook_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def subscribers(self, event_type: str, *, only: str | None = None) -> list[str]:
        """The enabled webhooks that take `event_type`; with `only`, that webhook if enabled,
        whatever types it takes (an event addressed to it, such as a test)."""
        query = select(Webhook.id, Webhook.event_types).where(Webhook.enabled.is_(True))
        if only is not None:
            return list(
                await self.session.scalars(
                    query.with_only_columns(Webhook.id).where(Webhook.id == only)
                )
            )
        rows = await self.session.execute(query.order_by(Webhook.id))
        return [id_ for id_, types in rows if types is None or event_type in types]

    async def add_event(
        self,
        event_id: str,
        event_type: str,
        body: str,
        *,
        webhook_ids: Sequence[str],
        now: datetime,
    ) -> None:
        """Store an event and a delivery of it, due now, to each of `webhook_ids`."""
        self.session.add(
            WebhookEvent(id=event_id, event_type=event_type, body=body, created_at=now)
        )
        # The event row first: the deliveries refer to it.
        await self.session.flush()
        self.session.add_all(
            WebhookDelivery(
                event_id=event_id,
                webhook_id=webhook_id,
                status=DeliveryStatus.PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
            for webhook_id in webhook_ids
        )
        await self.session.flush()

    async def deliveries(self, webhook_id: str, *, limit: int) -> list[DeliveryLog]:
        """A webhook's newest `limit` deliveries, newest first, each with its attempts."""
        rows = (
            await self.session.execute(
                select(WebhookDelivery, WebhookEvent.event_type)
                .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
                .where(WebhookDelivery.webhook_id == webhook_id)
                .order_by(WebhookDelivery.id.desc())
                .limit(limit)
            )
        ).all()
        attempts: dict[int, list[WebhookAttempt]] = {delivery.id: [] for delivery, _ in rows}
        if attempts:
            found = await self.session.scalars(
                select(WebhookAttempt)
                .where(WebhookAttempt.delivery_id.in_(attempts))
                .order_by(WebhookAttempt.delivery_id, WebhookAttempt.attempt)
            )
            for attempt in found:
                attempts[attempt.delivery_id].append(attempt)
        return [DeliveryLog(d, event_type, attempts[d.id]) for d, event_type in rows]

    async def get_delivery(self, delivery_id: int) -> WebhookDelivery | None:
        return await self.session.get(WebhookDelivery, delivery_id, with_for_update=True)

    async def make_due(self, delivery: WebhookDelivery, *, now: datetime) -> None:
        """Have the delivery's next attempt made now."""
        delivery.status = DeliveryStatus.RETRYING if delivery.attempts else DeliveryStatus.PENDING
        delivery.next_attempt_at = now
        delivery.updated_at = now
        await self.session.flush()

    async def claim_due(self, *, now: datetime, limit: int, lease: timedelta) -> list[DueDelivery]:
        """Claim up to `limit` deliveries due at `now` that no other transaction holds, for
        `lease`: until it ends, no one claims them again."""
        rows = (
            await self.session.execute(
                select(WebhookDelivery.id, WebhookDelivery.attempts, WebhookDelivery.event_id)
                .where(
                    WebhookDelivery.status.in_(OPEN_STATUSES),
                    WebhookDelivery.next_attempt_at <= now,
                )
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if rows:
            await self.session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_([id_ for id_, _, _ in rows]))
                .values(next_attempt_at=now + lease)
            )
        return [DueDelivery(id_, attempts + 1, event_id) for id_, attempts, event_id in rows]

    async def start_attempt(
        self, delivery_id: int, attempt: int, *, now: datetime, lease: timedelta
    ) -> AttemptTarget | None:
        """Log attempt number `attempt` as sending and hold the delivery for `lease`; None when
        that attempt is not the delivery's next (made already, or the delivery is finished).

        An earlier attempt still `sending` was cut off by its process's end: it is logged as
        interrupted, not lost.
        """
        row = (
            await self.session.execute(
                select(WebhookDelivery, Webhook, WebhookEvent.body)
                .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
                .where(WebhookDelivery.id == delivery_id)
                .with_for_update(of=WebhookDelivery)
            )
        ).first()
        if row is None:
            return None
        delivery, webhook, body = row
        if not delivery.status.open or delivery.attempts != attempt - 1:
            return None
        if delivery.attempts:
            await self._mark_interrupted(delivery.id)
        if not webhook.enabled:
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = None
            delivery.last_error = "the webhook is disabled"
            delivery.updated_at = now
            await self.session.flush()
            return None
        self.session.add(
            WebhookAttempt(
                delivery_id=delivery.id,
                attempt=attempt,
                outcome=AttemptOutcome.SENDING,
                started_at=now,
            )
        )
        delivery.attempts = attempt
        delivery.next_attempt_at = now + lease
        delivery.updated_at = now
        await self.session.flush()
        return AttemptTarget(webhook.id, webhook.url, webhook.secret, delivery.event_id, body)

    async def finish_attempt(
        self,
        delivery_id: int,
        attempt: int,
        *,
        now: datetime,
        status: DeliveryStatus,
        next_attempt_at: datetime | None,
        duration_ms: int,
        response_status: int | None,
        error: str | None,
    ) -> None:
        """Log how attempt number `attempt` ended and move its delivery on, unless a later
        attempt has started meanwhile (then only the log is written)."""
        outcome = (
            AttemptOutcome.SUCCEEDED
            if status is DeliveryStatus.SUCCEEDED
            else AttemptOutcome.FAILED
        )
        await self.session.execute(
            update(WebhookAttempt)
            .where(
                WebhookAttempt.delivery_id == delivery_id,
                WebhookAttempt.attempt == attempt,
            )
            .values(
                outcome=outcome,
                duration_ms=duration_ms,
                response_status=response_status,
                error=error,
            )
        )
        await self.session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.attempts == attempt,
                WebhookDelivery.status.in_(OPEN_STATUSES),
            )
            .values(
                status=status,
                next_attempt_at=next_attempt_at,
                response_status=response_status,
                last_error=error,
                updated_at=now,
            )
        )

    async def disable(self, webhook_id: str, *, reason: str, now: datetime) -> None:
        """Disable a webhook; its open deliveries fail, as nothing will be sent to it."""
        await self.session.execute(
            update(Webhook)
            .where(Webhook.id == webhook_id)
            .values(enabled=False, disabled_reason=reason, disabled_at=now)
        )
        await self.session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.webhook_id == webhook_id,
                WebhookDelivery.status.in_(OPEN_STATUSES),
            )
            .values(
                status=DeliveryStatus.FAILED,
                next_attempt_at=None,
                last_error=f"the webhook was disabled: {reason}",
                updated_at=now,
            )
        )

    async def _mark_interrupted(self, delivery_id: int) -> None:
        """Log an attempt still `sending` as interrupted: its process ended mid-attempt."""
        await self.session.execute(
            update(WebhookAttempt)
            .where(
                WebhookAttempt.delivery_id == delivery_id,
                WebhookAttempt.outcome == AttemptOutcome.SENDING,
            )
            .values(
                outcome=AttemptOutcome.INTERRUPTED,
                error="the process sending it stopped before the answer was recorded",
            )
        )
