"""Webhooks, the outbox of their events and deliveries, and the log of delivery attempts."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, or_, select, update
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
    """What attempt number `attempt` of a delivery sends: the event's body to the webhook's
    URL, signed with its secret."""

    delivery_id: int
    attempt: int
    webhook_id: str
    url: str
    secret: str
    event_id: str
    body: str


@dataclass(frozen=True, slots=True)
class EndedAttempt:
    """How attempt number `attempt` of a delivery ended, and where that leaves the delivery."""

    delivery_id: int
    attempt: int
    status: DeliveryStatus
    next_attempt_at: datetime | None
    duration_ms: int
    response_status: int | None
    error: str | None


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

    async def start_attempts(
        self, attempts: Sequence[tuple[int, int]], *, now: datetime, lease: timedelta
    ) -> list[AttemptTarget]:
        """Log each `(delivery_id, attempt)` as sending and hold its delivery for `lease`; the
        targets of those started, in delivery order. An attempt that is not its delivery's
        next (made already, or the delivery is finished) is left out.

        An earlier attempt still `sending` was cut off by its process's end: it is logged as
        interrupted, not lost.
        """
        wanted = dict(attempts)
        # Only the deliveries' rows are locked, in id order, so that two transactions taking
        # overlapping batches cannot deadlock; the webhook and event rows are only read, as a
        # lock on them would queue every attempt to one webhook behind the others.
        deliveries = list(
            await self.session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.id.in_(wanted))
                .order_by(WebhookDelivery.id)
                .with_for_update()
            )
        )
        startable = [d for d in deliveries if d.status.open and d.attempts == wanted[d.id] - 1]
        if not startable:
            return []
        webhooks = {
            webhook.id: webhook
            for webhook in await self.session.scalars(
                select(Webhook).where(Webhook.id.in_({d.webhook_id for d in startable}))
            )
        }
        bodies: dict[str, str] = {
            event_id: body
            for event_id, body in await self.session.execute(
                select(WebhookEvent.id, WebhookEvent.body).where(
                    WebhookEvent.id.in_({d.event_id for d in startable})
                )
            )
        }
        interrupted = [d.id for d in startable if d.attempts]
        if interrupted:
            await self._mark_interrupted(interrupted)
        targets = []
        for delivery in startable:
            webhook = webhooks[delivery.webhook_id]
            delivery.updated_at = now
            if not webhook.enabled:
                delivery.status = DeliveryStatus.FAILED
                delivery.next_attempt_at = None
                delivery.last_error = "the webhook is disabled"
                continue
            attempt = wanted[delivery.id]
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
            targets.append(
                AttemptTarget(
                    delivery.id,
                    attempt,
                    webhook.id,
                    webhook.url,
                    webhook.secret,
                    delivery.event_id,
                    bodies[delivery.event_id],
                )
            )
        await self.session.flush()
        return targets

    async def finish_attempts(self, ended: Sequence[EndedAttempt], *, now: datetime) -> None:
        """Log how each attempt ended and move its delivery on, unless a later attempt has
        started meanwhile (then only the log is written)."""
        if not ended:
            return
        # On the session's connection, each statement runs once per row (executemany); the
        # session itself would take a list of rows as the ORM's bulk update by primary key,
        # which cannot carry the guard on the delivery's attempt count and status.
        connection = await self.session.connection()
        await connection.execute(
            update(WebhookAttempt)
            .where(
                WebhookAttempt.delivery_id == bindparam("b_delivery_id"),
                WebhookAttempt.attempt == bindparam("b_attempt"),
            )
            .values(
                outcome=bindparam("b_outcome"),
                duration_ms=bindparam("b_duration_ms"),
                response_status=bindparam("b_response_status"),
                error=bindparam("b_error"),
            ),
            [
                {
                    "b_delivery_id": e.delivery_id,
                    "b_attempt": e.attempt,
                    "b_outcome": (
                        AttemptOutcome.SUCCEEDED
                        if e.status is DeliveryStatus.SUCCEEDED
                        else AttemptOutcome.FAILED
                    ),
                    "b_duration_ms": e.duration_ms,
                    "b_response_status": e.response_status,
                    "b_error": e.error,
                }
                for e in ended
            ],
        )
        await connection.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == bindparam("b_delivery_id"),
                WebhookDelivery.attempts == bindparam("b_attempt"),
                # Not IN (…): an expanding list cannot be part of an executemany.
                or_(*(WebhookDelivery.status == status for status in OPEN_STATUSES)),
            )
            .values(
                status=bindparam("b_status"),
                next_attempt_at=bindparam("b_next_attempt_at"),
                response_status=bindparam("b_response_status"),
                last_error=bindparam("b_error"),
                updated_at=now,
            ),
            [
                {
                    "b_delivery_id": e.delivery_id,
                    "b_attempt": e.attempt,
                    "b_status": e.status,
                    "b_next_attempt_at": e.next_attempt_at,
                    "b_response_status": e.response_status,
                    "b_error": e.error,
                }
                for e in ended
            ],
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

    async def _mark_interrupted(self, delivery_ids: Sequence[int]) -> None:
        """Log the attempts of these deliveries still `sending` as interrupted: their process
        ended mid-attempt."""
        await self.session.execute(
            update(WebhookAttempt)
            .where(
                WebhookAttempt.delivery_id.in_(delivery_ids),
                WebhookAttempt.outcome == AttemptOutcome.SENDING,
            )
            .values(
                outcome=AttemptOutcome.INTERRUPTED,
                error="the process sending it stopped before the answer was recorded",
            )
        )
