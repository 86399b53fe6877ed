"""Request and response bodies of the REST contract (api.md), and its envelope."""

from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.instagram import USERNAME_SCHEMA_PATTERN, parse_post_url, parse_username
from shared.intervals import Interval
from shared.models import Source, TaskStatus

MAX_TASK_IDS = 1000

PayloadT = TypeVar("PayloadT")


class Request(BaseModel):
    """A request body: unknown fields are refused rather than silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Envelope(BaseModel, Generic[PayloadT]):
    """Every successful response: `status_code` equals the HTTP status."""

    status_code: int
    success: bool = True
    data: PayloadT


class ErrorBody(BaseModel):
    code: str = Field(examples=["task_not_found"])
    message: str = Field(
        examples=["No influencer task has id 5b0c6a4e-8f43-4a57-9d2e-2f1d0b8e6c11."]
    )
    details: Any = None


class ErrorEnvelope(BaseModel):
    """Every error response: `status_code` equals the HTTP status."""

    status_code: int = Field(examples=[404])
    success: bool = False
    error: ErrorBody


class CreateInfluencerTask(Request):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"username": "instagram", "interval": "1h"}]},
    )

    username: str = Field(
        max_length=64,
        description="Instagram username, with or without '@'",
        # Documents exactly what the validator accepts (its messages are clearer than a
        # pattern mismatch, so the pattern is not enforced by pydantic itself).
        json_schema_extra={"pattern": USERNAME_SCHEMA_PATTERN},
    )
    interval: Interval

    @field_validator("username")
    @classmethod
    def _normalise_username(cls, value: str) -> str:
        return parse_username(value)


class CreatePostTask(Request):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"post_url": "https://www.instagram.com/p/CxYQJO8xuC6/", "interval": "1h"}]
        },
    )

    post_url: str = Field(max_length=2048, description="Link to a post, reel or IGTV video")
    interval: Interval

    @property
    def post_code(self) -> str:
        """The shortcode in the URL (already validated)."""
        return parse_post_url(self.post_url)

    @field_validator("post_url")
    @classmethod
    def _check_post_url(cls, value: str) -> str:
        parse_post_url(value)
        return value


class StopTasks(Request):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"task_ids": ["5b0c6a4e-8f43-4a57-9d2e-2f1d0b8e6c11"]}]},
    )

    task_ids: list[UUID] = Field(min_length=1, max_length=MAX_TASK_IDS)


class InfluencerTaskCreated(BaseModel):
    task_id: str
    username: str
    status: TaskStatus
    interval_seconds: int


class PostTaskCreated(BaseModel):
    task_id: str
    post_code: str
    status: TaskStatus
    interval_seconds: int


class InfluencerTaskItem(BaseModel):
    task_id: str
    username: str
    status: TaskStatus
    interval_seconds: int
    created_at: datetime
    updated_at: datetime


class PostTaskItem(BaseModel):
    task_id: str
    post_code: str
    status: TaskStatus
    interval_seconds: int
    created_at: datetime
    updated_at: datetime


class StoppedTasks(BaseModel):
    deleted_task_ids: list[str]
    not_found_task_ids: list[str]


class TaskStatusView(BaseModel):
    status: TaskStatus


class TaskStatusChanged(BaseModel):
    task_id: str
    status: TaskStatus


class InfluencerHistoryPoint(BaseModel):
    follower_count: int | None
    following_count: int | None
    post_count: int | None
    bio: str | None
    recorded_at: datetime
    source: Source


class InfluencerHistory(BaseModel):
    username: str
    history: list[InfluencerHistoryPoint]


class PostHistoryPoint(BaseModel):
    like_count: int | None
    comment_count: int | None
    play_count: int | None = Field(description="Only for videos; null otherwise")
    recorded_at: datetime
    source: Source


class PostHistory(BaseModel):
    post_code: str
    history: list[PostHistoryPoint]
