"""Bodies of the alerts and webhooks routes (api.md, "Alerts and webhooks")."""

from datetime import datetime
from typing import Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.events import EventType
from shared.growth import Metric
from shared.models import AlertCondition, AlertState, AttemptOutcome, DeliveryStatus
from shared.point_events import AlertWindow
from shared.schemas import Request

DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DURATION_PATTERN = r"^[0-9]{1,7}[smhd]$"
MAX_COOLDOWN_SECONDS = 30 * 86400
DEFAULT_COOLDOWN = "1h"


def duration_seconds(duration: str) -> int:
    """ "90s", "15m", "1h", "2d" in seconds."""
    return int(duration[:-1]) * DURATION_UNITS[duration[-1]]


def duration_text(seconds: int) -> str:
    """Seconds as the largest unit that divides them: 3600 → "1h"."""
    for unit, size in sorted(DURATION_UNITS.items(), key=lambda item: -item[1]):
        if seconds % size == 0 and (seconds or unit == "s"):
            return f"{seconds // size}{unit}"
    raise AssertionError("every number of seconds is a whole number of seconds")


class CreateWebhook(Request):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://hooks.example.com/instagram",
                    "description": "Growth alerts to the team channel",
                    "event_types": ["alert.triggered", "alert.resolved", "milestone.reached"],
                }
            ]
        },
    )

    url: str = Field(
        max_length=2048,
        description="Where events are POSTed: http(s), on a host that resolves to public "
        "addresses only (unless WEBHOOK_ALLOW_PRIVATE_TARGETS=true).",
    )
    description: str | None = Field(default=None, max_length=255)
    event_types: list[EventType] | None = Field(
        default=None,
        min_length=1,
        description="The event types to receive; absent or null: every type, new ones included.",
    )

    @field_validator("event_types")
    @classmethod
    def _unique(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else sorted(set(value))


class WebhookView(BaseModel):
    webhook_id: str
    url: str
    description: str | None
    event_types: list[EventType] | None = Field(description="Null: every event type.")
    enabled: bool = Field(
        description="False once the receiver answered 410 Gone: nothing more is sent to it."
    )
    disabled_reason: str | None = Field(description="Why the webhook was disabled, if it was.")
    disabled_at: datetime | None
    created_at: datetime


class WebhookCreated(WebhookView):
    secret: str = Field(
        description="The signing secret (Standard Webhooks, `whsec_` + base64). Shown only in "
        "this answer: keep it where the receiver can read it."
    )


class TestEventSent(BaseModel):
    event_id: str = Field(description="The `webhook-id` the receiver will see.")


class AttemptView(BaseModel):
    attempt: int = Field(description="1 for the first attempt.")
    outcome: AttemptOutcome = Field(
        description="`interrupted`: the sending process stopped before the answer was recorded "
        "(the receiver may have the event)."
    )
    started_at: datetime
    duration_ms: int | None
    response_status: int | None = Field(description="The receiver's status code, if it answered.")
    error: str | None


class DeliveryView(BaseModel):
    delivery_id: int
    event_id: str = Field(description="The `webhook-id` header: the same on every retry.")
    event_type: EventType
    status: DeliveryStatus
    attempts: int = Field(description="Attempts made so far.")
    response_status: int | None = Field(description="The status code of the last answer.")
    last_error: str | None = Field(description="Why the last attempt failed, if it did.")
    next_attempt_at: datetime | None = Field(
        description="When the next attempt is due; null once succeeded or failed."
    )
    created_at: datetime
    attempt_log: list[AttemptView] = Field(description="Every attempt, oldest first.")


class CreateAlert(Request):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "task_id": "5b0c6a4e-8f43-4a57-9d2e-2f1d0b8e6c11",
                    "metric": "follower_count",
                    "condition": "change_pct_above",
                    "threshold": 5,
                    "window": "1d",
                    "cooldown": "1h",
                }
            ]
        },
    )

    task_id: UUID
    metric: Metric = Field(
        description="A count of the task's kind: follower_count, following_count, post_count "
        "(profiles) or like_count, comment_count, play_count (posts)."
    )
    condition: AlertCondition = Field(
        description="above / below: the latest counted value; change_above / change_below: its "
        "change over `window`; change_pct_above / change_pct_below: that change in percent."
    )
    threshold: float = Field(allow_inf_nan=False)
    window: AlertWindow | None = Field(
        default=None, description="Required for change conditions, refused for the others."
    )
    cooldown: str = Field(
        default=DEFAULT_COOLDOWN,
        pattern=DURATION_PATTERN,
        description="After the alert resolves, how long before it may fire again "
        '("90s", "15m", "1h", "2d"; at most 30d).',
    )

    @field_validator("cooldown")
    @classmethod
    def _bounded(cls, value: str) -> str:
        if duration_seconds(value) > MAX_COOLDOWN_SECONDS:
            raise ValueError("cooldown is at most 30d")
        return value

    @model_validator(mode="after")
    def _window_fits_condition(self) -> Self:
        if self.condition.over_window and self.window is None:
            raise ValueError(f"{self.condition.value} needs a window: 1h, 1d or 7d")
        if not self.condition.over_window and self.window is not None:
            raise ValueError(f"{self.condition.value} compares the latest value; drop the window")
        return self


class AlertView(BaseModel):
    alert_id: str
    task_id: str
    target: str = Field(description="The username or post code the task watches.")
    metric: Metric
    condition: AlertCondition
    threshold: float
    window: AlertWindow | None
    cooldown: str
    state: AlertState = Field(
        description="`triggered` from the point that met the condition until one that does not."
    )
    last_value: float | None = Field(
        description="What the latest counted point gave the condition; null when unknown "
        "(no point yet, a null count, or no point as old as the window)."
    )
    last_evaluated_at: datetime | None = Field(description="recorded_at of that point.")
    last_triggered_at: datetime | None
    last_resolved_at: datetime | None
    created_at: datetime
