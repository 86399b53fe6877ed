"""The dashboard's alerts and webhooks page, its usage page, and the alerts of one target.
Like the targets pages they read through the services the API's routes use; what they change
(create, delete, test, retry) the pages send to the API's own routes."""

from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse

from services.api.alerting_schemas import DeliveryView, WebhookView
from services.api.dependencies import UsageServiceDep
from services.api.routes.alerting import Alerts, Webhooks
from services.api.web.formatting import CONDITION_NAMES, METRIC_NAMES, rule
from services.api.web.routes import render_page, templates
from shared.growth import METRICS

# The log of a webhook on the page: its latest deliveries (the API's route gives up to 100).
DELIVERIES_SHOWN = 10
# Which kind of target an alert watches, from the count it compares.
KIND_OF_METRIC = {metric: kind for kind, metrics in METRICS.items() for metric in metrics}

router = APIRouter(include_in_schema=False)
# What the alert lists and the add-alert form on a target's page (rendered by routes.py) need.
templates.env.globals.update(
    metric_names=METRIC_NAMES,
    metrics_of=METRICS,
    alert_conditions=CONDITION_NAMES,
    kind_of_metric=KIND_OF_METRIC,
    rule=rule,
)


@router.get("/ui/alerts", response_class=HTMLResponse)
async def alerts_page(request: Request, webhooks: Webhooks, alerts: Alerts) -> HTMLResponse:
    """Every webhook with its delivery log, the form that adds one, and every alert."""
    return render_page(
        request,
        "alerts.html",
        webhooks=await _webhook_logs(webhooks),
        alerts=await alerts.all(None),
        task_id=None,
    )


@router.get("/ui/alerts/webhooks", response_class=HTMLResponse)
async def webhook_list(request: Request, webhooks: Webhooks) -> HTMLResponse:
    """The webhooks and their deliveries, polled while the page is open."""
    return render_page(request, "_webhooks.html", webhooks=await _webhook_logs(webhooks))


@router.get("/ui/alerts/rules", response_class=HTMLResponse)
async def alert_list(
    request: Request,
    alerts: Alerts,
    task_id: Annotated[UUID | None, Query(description="Only this task's alerts")] = None,
) -> HTMLResponse:
    """Every alert, or one task's (on its page), polled while the page is open."""
    task = None if task_id is None else str(task_id)
    return render_page(request, "_alerts.html", alerts=await alerts.all(task), task_id=task)


@router.get("/ui/usage", response_class=HTMLResponse)
async def usage_page(request: Request, service: UsageServiceDep) -> HTMLResponse:
    """TikHub's calls and cost today and over 30 days, the projection, balance and keys."""
    return render_page(request, "usage.html", **await _usage(service))


@router.get("/ui/usage/summary", response_class=HTMLResponse)
async def usage_summary(request: Request, service: UsageServiceDep) -> HTMLResponse:
    """The same figures, polled while the page is open."""
    return render_page(request, "_usage.html", **await _usage(service))


async def _webhook_logs(webhooks: Webhooks) -> list[tuple[WebhookView, list[DeliveryView]]]:
    return [
        (hook, await webhooks.deliveries(hook.webhook_id, limit=DELIVERIES_SHOWN))
        for hook in await webhooks.all()
    ]


async def _usage(service: UsageServiceDep) -> dict[str, Any]:
    usage = await service.overview()
    # The chart reads oldest first; the API lists the days newest first.
    days = [
        {"date": day.date.isoformat(), "calls": day.calls, "cost_usd": day.cost_usd}
        for day in reversed(usage.tikhub.daily)
    ]
    return {"usage": usage, "daily": orjson.dumps(days).decode()}
