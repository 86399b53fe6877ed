"""/api/v1/webhooks and /api/v1/alerts: where events go, and the rules that raise them."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query

from services.api import examples
from services.api.alerting import AlertService, WebhookService
from services.api.alerting_schemas import (
    AlertView,
    CreateAlert,
    CreateWebhook,
    DeliveryView,
    TestEventSent,
    WebhookCreated,
    WebhookView,
)
from services.api.dependencies import RuntimeDep, SessionDep
from services.api.responses import documented, ok
from shared.schemas import Envelope

MAX_DELIVERIES = 100
BODY_ERRORS = (400, 408, 413, 422)


def _documented(example: Any, *errors: int, status_code: int = 200) -> dict[int | str, Any]:
    return documented(
        example,
        *errors,
        status_code=status_code,
        codes=examples.ALERTING_ERRORS,
        descriptions=examples.ALERTING_ERROR_DESCRIPTIONS,
    )


async def webhook_service(session: SessionDep, runtime: RuntimeDep) -> WebhookService:
    return WebhookService(
        session, allow_private_targets=runtime.settings.webhook_allow_private_targets
    )


async def alert_service(session: SessionDep) -> AlertService:
    return AlertService(session)


Webhooks = Annotated[WebhookService, Depends(webhook_service)]
Alerts = Annotated[AlertService, Depends(alert_service)]
WebhookId = Annotated[UUID, Path(description="The id of a webhook")]
AlertId = Annotated[UUID, Path(description="The id of an alert")]

webhooks_router = APIRouter(
    prefix="/api/v1/webhooks",
    tags=["webhooks"],
    generate_unique_id_function=lambda route: f"webhooks_{route.name}",
)
alerts_router = APIRouter(
    prefix="/api/v1/alerts",
    tags=["alerts"],
    generate_unique_id_function=lambda route: f"alerts_{route.name}",
)


@webhooks_router.post(
    "",
    status_code=201,
    response_model=Envelope[WebhookCreated],
    responses=_documented(examples.WEBHOOK_CREATED, *BODY_ERRORS, status_code=201),
    summary="Register a webhook (its signing secret is shown only here)",
)
async def create(body: CreateWebhook, webhooks: Webhooks) -> Envelope[WebhookCreated]:
    """Events are POSTed to the URL, signed per Standard Webhooks v1 with the secret. A URL
    whose host resolves to a loopback, private, link-local or metadata address is refused."""
    return ok(await webhooks.create(body), 201)


@webhooks_router.get(
    "",
    response_model=Envelope[list[WebhookView]],
    responses=_documented(examples.WEBHOOKS),
    summary="Every webhook",
)
async def list_webhooks(webhooks: Webhooks) -> Envelope[list[WebhookView]]:
    """Oldest first; secrets are never shown again."""
    return ok(await webhooks.all())


@webhooks_router.get(
    "/{webhook_id}",
    response_model=Envelope[WebhookView],
    responses=_documented(examples.WEBHOOK, 404, 422),
    summary="A webhook",
)
async def get_webhook(webhook_id: WebhookId, webhooks: Webhooks) -> Envelope[WebhookView]:
    """`enabled` is false (with the reason) once the receiver answered 410 Gone."""
    return ok(await webhooks.get(str(webhook_id)))


@webhooks_router.delete(
    "/{webhook_id}",
    response_model=Envelope[None],
    responses=_documented(None, 404, 422),
    summary="Delete a webhook and its deliveries",
)
async def delete_webhook(webhook_id: WebhookId, webhooks: Webhooks) -> Envelope[None]:
    """Nothing more is sent to it, retries included."""
    await webhooks.delete(str(webhook_id))
    return ok(None)


@webhooks_router.post(
    "/{webhook_id}/test",
    status_code=202,
    response_model=Envelope[TestEventSent],
    responses=_documented(examples.TEST_EVENT_SENT, 404, 409, 422, status_code=202),
    summary="Send a webhook.test event",
)
async def test(webhook_id: WebhookId, webhooks: Webhooks) -> Envelope[TestEventSent]:
    """Queued like any event (within seconds); its delivery shows in the deliveries log."""
    return ok(TestEventSent(event_id=await webhooks.send_test(str(webhook_id))), 202)


@webhooks_router.get(
    "/{webhook_id}/deliveries",
    response_model=Envelope[list[DeliveryView]],
    responses=_documented(examples.DELIVERIES, 404, 422),
    summary="A webhook's deliveries, newest first, with every attempt",
)
async def deliveries(
    webhook_id: WebhookId,
    webhooks: Webhooks,
    limit: Annotated[int, Query(ge=1, le=MAX_DELIVERIES, description="How many")] = 20,
) -> Envelope[list[DeliveryView]]:
    """A failed attempt is retried after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h; after
    the last, the delivery is `failed`."""
    return ok(await webhooks.deliveries(str(webhook_id), limit=limit))


@webhooks_router.post(
    "/deliveries/{delivery_id}/retry",
    status_code=202,
    response_model=Envelope[None],
    responses=_documented(None, 404, 409, 422, status_code=202),
    summary="Attempt a delivery again now",
)
async def retry(
    delivery_id: Annotated[int, Path(ge=1, le=2**63 - 1, description="The id of a delivery")],
    webhooks: Webhooks,
) -> Envelope[None]:
    """A failed delivery gets one more attempt; a pending or retrying one is attempted now. A
    delivery that succeeded, or of a disabled webhook, is refused (409)."""
    await webhooks.retry(delivery_id)
    return ok(None, 202)


@alerts_router.post(
    "",
    status_code=201,
    response_model=Envelope[AlertView],
    responses=_documented(examples.ALERT_CREATED, *BODY_ERRORS, 404, status_code=201),
    summary="Create an alert on a task's counts",
)
async def create_alert(body: CreateAlert, alerts: Alerts) -> Envelope[AlertView]:
    """Evaluated after each counted point of the task (never a fallback): `alert.triggered`
    when the condition becomes true, `alert.resolved` when it stops; once resolved, it fires
    again only after the cooldown."""
    return ok(await alerts.create(body), 201)


@alerts_router.get(
    "",
    response_model=Envelope[list[AlertView]],
    responses=_documented(examples.ALERTS, 422),
    summary="Every alert, or a task's",
)
async def list_alerts(
    alerts: Alerts,
    task_id: Annotated[UUID | None, Query(description="Only this task's alerts")] = None,
) -> Envelope[list[AlertView]]:
    """Oldest first."""
    return ok(await alerts.all(None if task_id is None else str(task_id)))


@alerts_router.get(
    "/{alert_id}",
    response_model=Envelope[AlertView],
    responses=_documented(examples.ALERT, 404, 422),
    summary="An alert, its state and last trigger",
)
async def get_alert(alert_id: AlertId, alerts: Alerts) -> Envelope[AlertView]:
    """`state` is `triggered` while the condition holds."""
    return ok(await alerts.get(str(alert_id)))


@alerts_router.delete(
    "/{alert_id}",
    response_model=Envelope[None],
    responses=_documented(None, 404, 422),
    summary="Delete an alert",
)
async def delete_alert(alert_id: AlertId, alerts: Alerts) -> Envelope[None]:
    await alerts.delete(str(alert_id))
    return ok(None)
