"""The rules of webhooks and alerts as the API applies them; the request commits."""

import base64
import secrets
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.api.alerting_schemas import (
    AlertView,
    CreateAlert,
    CreateWebhook,
    DeliveryView,
    WebhookCreated,
    WebhookView,
    duration_seconds,
    duration_text,
)
from services.api.errors import Conflict, InvalidInput, NotFound
from shared.events import EventType, record_event
from shared.growth import METRICS
from shared.models import Alert, DeliveryStatus, Task, Webhook, utcnow
from shared.repositories.alerts import AlertRepository
from shared.repositories.tasks import TaskRepository
from shared.repositories.webhooks import DeliveryLog, WebhookRepository
from shared.webhook_targets import RefusedTarget, check_target

# Standard Webhooks secrets are 24 to 64 random bytes; 32 is the common choice.
SECRET_BYTES = 32


def new_secret() -> str:
    """A signing secret in Standard Webhooks' form: whsec_ and the base64 of random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def webhook_view(webhook: Webhook) -> dict[str, Any]:
    return {
        "webhook_id": webhook.id,
        "url": webhook.url,
        "description": webhook.description,
        "event_types": webhook.event_types,
        "enabled": webhook.enabled,
        "disabled_reason": webhook.disabled_reason,
        "disabled_at": webhook.disabled_at,
        "created_at": webhook.created_at,
    }


def delivery_view(log: DeliveryLog) -> DeliveryView:
    delivery = log.delivery
    return DeliveryView.model_validate(
        {
            "delivery_id": delivery.id,
            "event_id": delivery.event_id,
            "event_type": log.event_type,
            "status": delivery.status,
            "attempts": delivery.attempts,
            "response_status": delivery.response_status,
            "last_error": delivery.last_error,
            "next_attempt_at": delivery.next_attempt_at if delivery.status.open else None,
            "created_at": delivery.created_at,
            "attempt_log": [
                {
                    "attempt": a.attempt,
                    "outcome": a.outcome,
                    "started_at": a.started_at,
                    "duration_ms": a.duration_ms,
                    "response_status": a.response_status,
                    "error": a.error,
                }
                for a in log.attempts
            ],
        }
    )


class WebhookService:
    """Creates, lists, tests and retries webhooks and their deliveries."""

    def __init__(self, session: AsyncSession, *, allow_private_targets: bool) -> None:
        self.session = session
        self.webhooks = WebhookRepository(session)
        self.allow_private_targets = allow_private_targets

    async def create(self, body: CreateWebhook) -> WebhookCreated:
        """A new webhook, with its secret (the only time it is shown)."""
        try:
            await check_target(body.url, allow_private=self.allow_private_targets)
        except RefusedTarget as refused:
            raise InvalidInput(
                f"Invalid request: url: {refused}.",
                code="webhook_target_refused",
                details=[{"field": "url", "message": str(refused), "type": "value_error"}],
            ) from None
        webhook = await self.webhooks.create(
            url=body.url,
            description=body.description,
            event_types=None if body.event_types is None else [str(t) for t in body.event_types],
            secret=new_secret(),
            now=utcnow(),
        )
        return WebhookCreated.model_validate({**webhook_view(webhook), "secret": webhook.secret})

    async def all(self) -> list[WebhookView]:
        return [WebhookView.model_validate(webhook_view(w)) for w in await self.webhooks.all()]

    async def get(self, webhook_id: str) -> WebhookView:
        return WebhookView.model_validate(webhook_view(await self._webhook(webhook_id)))

    async def delete(self, webhook_id: str) -> None:
        if not await self.webhooks.delete(webhook_id):
            raise _webhook_not_found(webhook_id)

    async def send_test(self, webhook_id: str) -> str:
        """Queue a webhook.test event to this webhook, whatever types it takes."""
        webhook = await self._webhook(webhook_id)
        if not webhook.enabled:
            raise _disabled(webhook)
        event_id = await record_event(
            self.session,
            EventType.WEBHOOK_TEST,
            {"webhook_id": webhook.id, "message": "A test event: this webhook receives events."},
            webhook_id=webhook.id,
        )
        assert event_id is not None, "an enabled webhook takes the event addressed to it"
        return event_id

    async def deliveries(self, webhook_id: str, *, limit: int) -> list[DeliveryView]:
        await self._webhook(webhook_id)
        return [
            delivery_view(log) for log in await self.webhooks.deliveries(webhook_id, limit=limit)
        ]

    async def retry(self, delivery_id: int) -> None:
        """Have a delivery attempted again now (a failed one gets one more attempt)."""
        delivery = await self.webhooks.get_delivery(delivery_id)
        if delivery is None:
            raise NotFound(f"No webhook delivery has id {delivery_id}.", code="delivery_not_found")
        if delivery.status is DeliveryStatus.SUCCEEDED:
            raise Conflict(
                f"Delivery {delivery_id} succeeded already; the receiver has the event.",
                code="delivery_succeeded",
            )
        webhook = await self._webhook(delivery.webhook_id)
        if not webhook.enabled:
            raise _disabled(webhook)
        await self.webhooks.make_due(delivery, now=utcnow())

    async def _webhook(self, webhook_id: str) -> Webhook:
        webhook = await self.webhooks.get(webhook_id)
        if webhook is None:
            raise _webhook_not_found(webhook_id)
        return webhook


def _webhook_not_found(webhook_id: str) -> NotFound:
    return NotFound(f"No webhook has id {webhook_id}.", code="webhook_not_found")


def _disabled(webhook: Webhook) -> Conflict:
    return Conflict(
        f"Webhook {webhook.id} is disabled ({webhook.disabled_reason}); "
        "create a new webhook to receive events again.",
        code="webhook_disabled",
    )


class AlertService:
    """Creates, lists and deletes alert rules."""

    def __init__(self, session: AsyncSession) -> None:
        self.alerts = AlertRepository(session)
        self.tasks = TaskRepository(session)

    async def create(self, body: CreateAlert) -> AlertView:
        task = await self.tasks.get(str(body.task_id))
        if task is None:
            raise NotFound(f"No task has id {body.task_id}.", code="task_not_found")
        if body.metric not in METRICS[task.task_type]:
            problem = (
                f"{body.metric} is not a count of {task.task_type} tasks; "
                f"use one of {', '.join(METRICS[task.task_type])}"
            )
            raise InvalidInput.for_field("metric", problem)
        alert = await self.alerts.create(
            task_id=task.id,
            metric=body.metric,
            condition=body.condition,
            threshold=body.threshold,
            window=body.window,
            cooldown_seconds=duration_seconds(body.cooldown),
            now=utcnow(),
        )
        return _alert_view(alert, task)

    async def all(self, task_id: str | None) -> list[AlertView]:
        alerts = await self.alerts.all(task_id=task_id)
        tasks = {a.task_id: await self._task(a.task_id) for a in alerts}
        return [_alert_view(alert, tasks[alert.task_id]) for alert in alerts]

    async def get(self, alert_id: str) -> AlertView:
        alert = await self.alerts.get(alert_id)
        if alert is None:
            raise _alert_not_found(alert_id)
        return _alert_view(alert, await self._task(alert.task_id))

    async def delete(self, alert_id: str) -> None:
        if not await self.alerts.delete(alert_id):
            raise _alert_not_found(alert_id)

    async def _task(self, task_id: str) -> Task:
        task = await self.tasks.get(task_id)
        assert task is not None, "an alert is deleted with its task"
        return task


def _alert_not_found(alert_id: str) -> NotFound:
    return NotFound(f"No alert has id {alert_id}.", code="alert_not_found")


def _alert_view(alert: Alert, task: Task) -> AlertView:
    return AlertView.model_validate(
        {
            "alert_id": alert.id,
            "task_id": alert.task_id,
            "target": task.target,
            "metric": alert.metric,
            "condition": alert.condition,
            "threshold": alert.threshold,
            "window": alert.window,
            "cooldown": duration_text(alert.cooldown_seconds),
            "state": alert.state,
            "last_value": alert.last_value,
            "last_evaluated_at": alert.last_evaluated_at,
            "last_triggered_at": alert.last_triggered_at,
            "last_resolved_at": alert.last_resolved_at,
            "created_at": alert.created_at,
        }
    )
