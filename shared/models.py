"""SQLAlchemy models of the tables; Alembic migrations own the schema itself."""

import enum
import uuid
from datetime import UTC, date, datetime

from sqlalchemy import (
    CHAR,
    JSON,
    BigInteger,
    Boolean,
    Computed,
    Date,
    Double,
    Enum,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
}


class TaskType(enum.StrEnum):
    INFLUENCER = "influencer"
    POST = "post"


class TaskStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    STOPPED = "stopped"


class TaskHealth(enum.StrEnum):
    """What a task's last collections amounted to (api.md, "Task health and update")."""

    # Never collected yet.
    PENDING = "pending"
    # The last collection succeeded.
    OK = "ok"
    # The last collection failed on the way (TikHub or the network); it may pass next time.
    FAILING = "failing"
    # TikHub says the target does not exist or is private; retried with back-off.
    UNAVAILABLE = "unavailable"


class Source(enum.StrEnum):
    """Where a history row's numbers came from: a fresh fetch, the last good payload, or
    another tracker's history brought in by an import."""

    LIVE = "live"
    FALLBACK = "fallback"
    IMPORTED = "imported"

    @property
    def counts(self) -> bool:
        """Whether statistics and roll-ups count the point: a fallback repeats an old value."""
        return self is not Source.FALLBACK


class MediaType(enum.StrEnum):
    """What kind of post a post is."""

    IMAGE = "image"
    VIDEO = "video"
    CAROUSEL = "carousel"


class UTCDateTime(TypeDecorator[datetime]):
    """DATETIME(6) holding naive UTC in the database and aware UTC in Python."""

    impl = mysql.DATETIME(fsp=6)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _enum(enum_class: type[enum.Enum], name: str) -> Enum:
    # Store the lower-case values ('active'), not the Python member names ('ACTIVE').
    return Enum(enum_class, name=name, values_callable=lambda members: [m.value for m in members])


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


# Instagram ids fit a signed 64-bit integer today; unsigned leaves head-room at no cost.
InstagramId = BigInteger().with_variant(mysql.BIGINT(unsigned=True), "mysql", "mariadb")


# Instagram shortcodes are case-sensitive: CxYQJO8xuC6 and cxyqjo8xuc6 are two posts.
PostCode = String(255, collation="utf8mb4_bin")


# Computed by the database (a virtual column): recorded_at of imported rows, NULL otherwise.
IMPORTED_AT = Computed("if((`source` = 'imported'),`recorded_at`,NULL)", persisted=False)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# A post's details that its task keeps, as the collector first read them.
POST_DETAILS = ("owner_username", "published_at", "media_type", "caption")


class Task(Base):
    """One monitored target (a profile or a post) and its schedule."""

    __tablename__ = "task"
    __table_args__ = (
        Index(None, "status", "next_run_at"),
        Index(None, "user_id"),
        Index(None, "task_type", "created_at"),
        Index(None, "claim_expires_at"),
    )

    id: Mapped[str] = mapped_column(CHAR(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    task_type: Mapped[TaskType] = mapped_column(_enum(TaskType, "task_type"))
    username: Mapped[str | None] = mapped_column(String(255), unique=True)
    post_code: Mapped[str | None] = mapped_column(PostCode, unique=True)
    interval_seconds: Mapped[int] = mapped_column(Integer)
    status: Mapped[TaskStatus] = mapped_column(_enum(TaskStatus, "task_status"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_run_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # The repository sets it on insert; the server default serves services that predate it.
    health: Mapped[TaskHealth] = mapped_column(
        _enum(TaskHealth, "task_health"), server_default=TaskHealth.PENDING.value
    )
    # The slot handed to the collectors and not yet done (its row or failure not committed),
    # and when the scheduler should check that its job still exists: Redis may lose jobs.
    claimed_slot: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    user_id: Mapped[int | None] = mapped_column(InstagramId)
    post_id: Mapped[str | None] = mapped_column(String(50))
    # POST_DETAILS: null for profiles, and for posts until read.
    owner_username: Mapped[str | None] = mapped_column(String(255))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    media_type: Mapped[MediaType | None] = mapped_column(_enum(MediaType, "media_type"))
    caption: Mapped[str | None] = mapped_column(Text)
    # An influencer task that also samples the creator's recent posts (user_stats.engagement).
    track_posts: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    @property
    def target(self) -> str:
        """The username or post code this task watches."""
        return target_of(self.task_type, self.username, self.post_code)


def target_of(task_type: TaskType, username: str | None, post_code: str | None) -> str:
    """The username (influencer) or post code (post) a task of `task_type` watches."""
    target = username if task_type is TaskType.INFLUENCER else post_code
    assert target is not None, "a task always has the target of its type"
    return target


class TaskTag(Base):
    """One tag of one task: a client's label for grouping tasks (shared/tags.py)."""

    __tablename__ = "task_tag"
    # With the primary key appended, (tag, task_id): every task with a tag is one range.
    __table_args__ = (Index(None, "tag"),)

    task_id: Mapped[str] = mapped_column(
        CHAR(36), ForeignKey("task.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(50), primary_key=True)


class InfluencerMetricsHistory(Base):
    """A profile's counts at one scheduled slot."""

    __tablename__ = "influencer_metrics_history"
    __table_args__ = (
        Index(None, "user_id", "recorded_at"),
        Index(None, "id"),
        UniqueConstraint("task_id", "scheduled_for"),
        UniqueConstraint("task_id", "imported_at"),
    )

    # Clustered by (task_id, recorded_at, id): one target's points lie together, by time.
    task_id: Mapped[str] = mapped_column(
        CHAR(36), ForeignKey("task.id", ondelete="CASCADE"), primary_key=True
    )
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    user_id: Mapped[int | None] = mapped_column(InstagramId)
    username: Mapped[str] = mapped_column(String(255))
    bio: Mapped[str | None] = mapped_column(Text)
    follower_count: Mapped[int | None] = mapped_column(BigInteger)
    following_count: Mapped[int | None] = mapped_column(BigInteger)
    post_count: Mapped[int | None] = mapped_column(BigInteger)
    # The slot a collection fills; an imported point has none.
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime)
    source: Mapped[Source] = mapped_column(_enum(Source, "history_source"))
    # An imported point's time, unique per task: concurrent imports store each point once.
    imported_at: Mapped[datetime | None] = mapped_column(UTCDateTime, IMPORTED_AT)


class PostMetricsHistory(Base):
    """A post's counts at one scheduled slot."""

    __tablename__ = "post_metrics_history"
    __table_args__ = (
        Index(None, "post_code", "recorded_at"),
        Index(None, "id"),
        UniqueConstraint("task_id", "scheduled_for"),
        UniqueConstraint("task_id", "imported_at"),
    )

    # Clustered as the profiles' history is.
    task_id: Mapped[str] = mapped_column(
        CHAR(36), ForeignKey("task.id", ondelete="CASCADE"), primary_key=True
    )
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    post_code: Mapped[str] = mapped_column(PostCode)
    post_id: Mapped[str | None] = mapped_column(String(50))
    like_count: Mapped[int | None] = mapped_column(BigInteger)
    comment_count: Mapped[int | None] = mapped_column(BigInteger)
    play_count: Mapped[int | None] = mapped_column(BigInteger)
    # The slot a collection fills; an imported point has none.
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime)
    source: Mapped[Source] = mapped_column(_enum(Source, "history_source"))
    # An imported point's time, unique per task: concurrent imports store each point once.
    imported_at: Mapped[datetime | None] = mapped_column(UTCDateTime, IMPORTED_AT)


class _Bucket:
    """A roll-up row: the last counted point of one task in one UTC hour or day."""

    task_id: Mapped[str] = mapped_column(
        CHAR(36), ForeignKey("task.id", ondelete="CASCADE"), primary_key=True
    )
    bucket_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[Source] = mapped_column(_enum(Source, "history_source"))


class _InfluencerBucket(_Bucket):
    follower_count: Mapped[int | None] = mapped_column(BigInteger)
    following_count: Mapped[int | None] = mapped_column(BigInteger)
    post_count: Mapped[int | None] = mapped_column(BigInteger)
    bio: Mapped[str | None] = mapped_column(Text)


class _PostBucket(_Bucket):
    like_count: Mapped[int | None] = mapped_column(BigInteger)
    comment_count: Mapped[int | None] = mapped_column(BigInteger)
    play_count: Mapped[int | None] = mapped_column(BigInteger)


class InfluencerHourly(_InfluencerBucket, Base):
    """A profile's last counted point of each UTC hour, a projection of its history rows."""

    __tablename__ = "influencer_hourly"


class InfluencerDaily(_InfluencerBucket, Base):
    """A profile's last counted point of each UTC day, a projection of its history rows."""

    __tablename__ = "influencer_daily"


class PostHourly(_PostBucket, Base):
    """A post's last counted point of each UTC hour, a projection of its history rows."""

    __tablename__ = "post_hourly"


class PostDaily(_PostBucket, Base):
    """A post's last counted point of each UTC day, a projection of its history rows."""

    __tablename__ = "post_daily"


class PostSample(Base):
    """One sample of a creator's recent posts, taken with the profile at one slot.

    A failed sample is stored too (with its error and no posts): it counts as the slot's sample,
    so a creator whose posts cannot be read costs one call an hour, not one a slot.
    """

    __tablename__ = "post_sample"

    task_id: Mapped[str] = mapped_column(
        CHAR(36), ForeignKey("task.id", ondelete="CASCADE"), primary_key=True
    )
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    sampled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The followers the profile fetch of the same slot read: the rates' denominator.
    follower_count: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)


class PostSampleItem(Base):
    """One post as a sample saw it, in the order the creator's feed lists it."""

    __tablename__ = "post_sample_item"
    __table_args__ = (
        ForeignKeyConstraint(
            ["task_id", "scheduled_for"],
            ["post_sample.task_id", "post_sample.scheduled_for"],
            ondelete="CASCADE",
        ),
        Index(None, "post_code", "scheduled_for"),
    )

    task_id: Mapped[str] = mapped_column(CHAR(36), primary_key=True)
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_code: Mapped[str] = mapped_column(PostCode)
    post_id: Mapped[str | None] = mapped_column(String(50))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    media_type: Mapped[MediaType | None] = mapped_column(_enum(MediaType, "media_type"))
    is_pinned: Mapped[bool] = mapped_column(Boolean)
    # Null when the creator hides likes; plays only for videos.
    like_count: Mapped[int | None] = mapped_column(BigInteger)
    comment_count: Mapped[int | None] = mapped_column(BigInteger)
    play_count: Mapped[int | None] = mapped_column(BigInteger)


class ApiKey(Base):
    """A client's key to the REST API. Only its SHA-256 is stored: the key is shown once."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_hash: Mapped[str] = mapped_column(CHAR(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TikHubUsage(Base):
    """TikHub calls of one UTC day, by task, endpoint and key, with what they cost.

    `task_id` is empty for calls no task made (the balance poll). No foreign key: the ledger
    outlives nothing, task rows are never deleted, and a count must never be refused.
    """

    __tablename__ = "tikhub_usage"
    __table_args__ = (Index(None, "task_id", "day"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    task_id: Mapped[str] = mapped_column(CHAR(36), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(255), primary_key=True)
    key_fingerprint: Mapped[str] = mapped_column(CHAR(16), primary_key=True)
    calls: Mapped[int] = mapped_column(BigInteger)
    billable_calls: Mapped[int] = mapped_column(BigInteger)
    # Millionths of a dollar: sums stay exact.
    cost_micro_usd: Mapped[int] = mapped_column(BigInteger)


class TikHubUsageFlush(Base):
    """A batch of Redis usage counters already added to `tikhub_usage`: a flush retried after a
    crash finds its batch here and adds nothing twice."""

    __tablename__ = "tikhub_usage_flush"

    batch_id: Mapped[str] = mapped_column(CHAR(32), primary_key=True)
    flushed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class TikHubBudgetExceeded(Base):
    """The UTC days on which the daily TikHub budget was reached, and when it first was."""

    __tablename__ = "tikhub_budget_exceeded"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    exceeded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DeliveryStatus(enum.StrEnum):
    """Where one event's delivery to one webhook stands."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    RETRYING = "retrying"
    FAILED = "failed"

    @property
    def open(self) -> bool:
        """Whether the delivery still has an attempt to make."""
        return self in (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)


class AttemptOutcome(enum.StrEnum):
    """How one attempt at a delivery ended; `sending` until it ends."""

    SENDING = "sending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    # The process died while sending: the receiver may or may not have the event.
    INTERRUPTED = "interrupted"


class AlertCondition(enum.StrEnum):
    ABOVE = "above"
    BELOW = "below"
    CHANGE_ABOVE = "change_above"
    CHANGE_BELOW = "change_below"
    CHANGE_PCT_ABOVE = "change_pct_above"
    CHANGE_PCT_BELOW = "change_pct_below"

    @property
    def over_window(self) -> bool:
        """Whether the condition compares a change over a window rather than the latest value."""
        return self not in (AlertCondition.ABOVE, AlertCondition.BELOW)


class AlertState(enum.StrEnum):
    OK = "ok"
    TRIGGERED = "triggered"


class Webhook(Base):
    """A receiver of events. Its secret is kept as issued: every delivery is signed with it."""

    __tablename__ = "webhook"

    id: Mapped[str] = mapped_column(CHAR(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(255))
    # Null: every event type.
    event_types: Mapped[list[str] | None] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(255))
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookEvent(Base):
    """The outbox: one event, its body exactly as every delivery of it sends (and signs) it."""

    __tablename__ = "webhook_event"

    # Standard Webhooks' `webhook-id`: the same on every delivery and retry of the event.
    id: Mapped[str] = mapped_column(CHAR(36), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(50))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookDelivery(Base):
    """One event to one webhook: due at `next_attempt_at` until it succeeds or fails for good."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (Index(None, "status", "next_attempt_at"), Index(None, "webhook_id", "id"))

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(
        CHAR(36), ForeignKey("webhook_event.id", ondelete="CASCADE")
    )
    webhook_id: Mapped[str] = mapped_column(CHAR(36), ForeignKey("webhook.id", ondelete="CASCADE"))
    status: Mapped[DeliveryStatus] = mapped_column(_enum(DeliveryStatus, "delivery_status"))
    # Attempts started; the next one is number attempts + 1.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Null once the delivery is finished. While an attempt is claimed or sending, the end of
    # its lease: past it, the attempt is presumed lost and the next one is claimed.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    response_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookAttempt(Base):
    """The log of one attempt at a delivery, written before the request is sent."""

    __tablename__ = "webhook_attempt"

    delivery_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("webhook_delivery.id", ondelete="CASCADE"), primary_key=True
    )
    # 1 for the first attempt; the primary key lets one process only make each attempt.
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    outcome: Mapped[AttemptOutcome] = mapped_column(_enum(AttemptOutcome, "attempt_outcome"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    response_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)


class Alert(Base):
    """A rule on one task's counts, evaluated after each counted point; edge-triggered."""

    __tablename__ = "alert"
    __table_args__ = (Index(None, "task_id", "id"),)

    id: Mapped[str] = mapped_column(CHAR(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    task_id: Mapped[str] = mapped_column(CHAR(36), ForeignKey("task.id", ondelete="CASCADE"))
    metric: Mapped[str] = mapped_column(String(32))
    condition: Mapped[AlertCondition] = mapped_column(_enum(AlertCondition, "alert_condition"))
    threshold: Mapped[float] = mapped_column(Double)
    window: Mapped[str | None] = mapped_column(String(8))
    cooldown_seconds: Mapped[int] = mapped_column(Integer)
    state: Mapped[AlertState] = mapped_column(_enum(AlertState, "alert_state"))
    # The value the last counted point gave the condition (null when it could not be computed).
    last_value: Mapped[float | None] = mapped_column(Double)
    last_evaluated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_triggered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class InfluencerMilestone(Base):
    """The highest follower milestone a profile's counted points have reached."""

    __tablename__ = "influencer_milestone"

    task_id: Mapped[str] = mapped_column(
        CHAR(36), ForeignKey("task.id", ondelete="CASCADE"), primary_key=True
    )
    milestone: Mapped[int] = mapped_column(BigInteger)
    reached_at: Mapped[datetime] = mapped_column(UTCDateTime)
