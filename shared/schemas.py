"""Request and response bodies of the REST contract (api.md), and its envelope."""

from datetime import date as Day
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, Self, TypeVar
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)

from shared.instagram import USERNAME_SCHEMA_PATTERN, parse_post_url, parse_username
from shared.intervals import Interval
from shared.models import Source, Task, TaskHealth, TaskStatus
from shared.tags import MAX_TAG_LENGTH, MAX_TAGS, TAG_SCHEMA_PATTERN, parse_tag, parse_tags

MAX_TASK_IDS = 1000
MAX_BULK_INPUTS = 1000

_TAGS_DOC = (
    f"At most {MAX_TAGS} labels to group tasks by, each 1 to {MAX_TAG_LENGTH} of `a-z 0-9 _ - . :` "
    "(upper-case letters are lower-cased; repeats count once)"
)
# The tags a body gives a task; the pattern is published, the validator's messages enforce it.
Tags = Annotated[
    list[
        Annotated[
            str, Field(max_length=MAX_TAG_LENGTH, json_schema_extra={"pattern": TAG_SCHEMA_PATTERN})
        ]
    ],
    Field(max_length=MAX_TAGS, description=_TAGS_DOC, examples=[["brand-x", "q4:launch"]]),
    AfterValidator(parse_tags),
]
# One tag naming the tasks a bulk action or a list applies to.
Tag = Annotated[
    str,
    Field(
        max_length=MAX_TAG_LENGTH,
        description="A tag (lower-cased)",
        examples=["brand-x"],
        json_schema_extra={"pattern": TAG_SCHEMA_PATTERN},
    ),
    AfterValidator(parse_tag),
]

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


TRACK_POSTS_DOC = (
    "Also sample the creator's recent posts (one extra TikHub call, at most once an hour and "
    "once per slot), so that user_stats carries `engagement`."
)


class CreateInfluencerTask(Request):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"username": "instagram", "interval": "1h"},
                {"username": "instagram", "interval": "1h", "tags": ["brand-x"]},
                {"username": "instagram", "interval": "1h", "track_posts": True},
            ]
        },
    )

    username: str = Field(
        max_length=64,
        description="Instagram username, with or without '@'",
        # Documents exactly what the validator accepts (its messages are clearer than a
        # pattern mismatch, so the pattern is not enforced by pydantic itself).
        json_schema_extra={"pattern": USERNAME_SCHEMA_PATTERN},
    )
    interval: Interval
    track_posts: StrictBool = Field(default=False, description=TRACK_POSTS_DOC)
    tags: Tags | None = Field(default=None, description=_TAGS_DOC)

    @field_validator("username")
    @classmethod
    def _normalise_username(cls, value: str) -> str:
        return parse_username(value)


class CreatePostTask(Request):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"post_url": "https://www.instagram.com/p/CxYQJO8xuC6/", "interval": "1h"},
                {
                    "post_url": "https://www.instagram.com/p/CxYQJO8xuC6/",
                    "interval": "1h",
                    "tags": ["brand-x"],
                },
            ]
        },
    )

    post_url: str = Field(max_length=2048, description="Link to a post, reel or IGTV video")
    interval: Interval
    tags: Tags | None = Field(default=None, description=_TAGS_DOC)

    @property
    def post_code(self) -> str:
        """The shortcode in the URL (already validated)."""
        return parse_post_url(self.post_url)

    @field_validator("post_url")
    @classmethod
    def _check_post_url(cls, value: str) -> str:
        parse_post_url(value)
        return value


_BULK_INPUTS_DOC = (
    f"At most {MAX_BULK_INPUTS}; an input that names nothing is listed in `invalid` (with why) "
    "while the others are created"
)
_BULK_TAGS_DOC = f"{_TAGS_DOC}; given to every task created (a restarted task's are replaced)"


class CreateInfluencerTasks(Request):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"usernames": ["instagram", "@NatGeo"], "interval": "1h", "tags": ["brand-x"]}
            ]
        },
    )

    usernames: list[str] = Field(
        min_length=1,
        max_length=MAX_BULK_INPUTS,
        description=f"Instagram usernames, with or without '@'. {_BULK_INPUTS_DOC}",
    )
    interval: Interval
    tags: Tags | None = Field(default=None, description=_BULK_TAGS_DOC)
    track_posts: StrictBool = Field(default=False, description=TRACK_POSTS_DOC)


class CreatePostTasks(Request):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "post_urls": ["https://www.instagram.com/p/CxYQJO8xuC6/"],
                    "interval": "1h",
                    "tags": ["brand-x"],
                }
            ]
        },
    )

    post_urls: list[str] = Field(
        min_length=1,
        max_length=MAX_BULK_INPUTS,
        description=f"Links to posts, reels or IGTV videos. {_BULK_INPUTS_DOC}",
    )
    interval: Interval
    tags: Tags | None = Field(default=None, description=_BULK_TAGS_DOC)


class UpdateTask(Request):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"interval": "30m", "tags": ["brand-x", "q4"]}]},
    )

    interval: Interval | None = Field(
        default=None,
        description="The new interval. The next slot stays as planned, or comes sooner when "
        "the last slot plus the new interval is sooner (at once if that has passed); slots "
        "then follow every new interval from it",
    )
    tags: Tags | None = Field(
        default=None, description=f"{_TAGS_DOC}; they replace the task's tags (`[]` clears them)"
    )
    track_posts: StrictBool | None = Field(
        default=None,
        description="Profiles only: turns the sampling of recent posts on or off. "
        + TRACK_POSTS_DOC,
    )

    @model_validator(mode="after")
    def _changes_something(self) -> Self:
        if self.interval is None and self.tags is None and self.track_posts is None:
            raise ValueError("give an interval, tags or track_posts")
        return self


class TaskSelection(Request):
    """The tasks a bulk action applies to: these ids, or every task of the kind with a tag."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"task_ids": ["5b0c6a4e-8f43-4a57-9d2e-2f1d0b8e6c11"]}, {"tag": "brand-x"}]
        },
    )

    task_ids: list[UUID] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_TASK_IDS,
        description=f"Up to {MAX_TASK_IDS} task ids (or give `tag` instead)",
    )
    tag: Tag | None = Field(
        default=None, description="Every task of this kind with this tag (or give `task_ids`)"
    )

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        if (self.task_ids is None) == (self.tag is None):
            raise ValueError("give either task_ids or tag, not both or neither")
        return self


_TAG_LIST_DOC = "The task's tags, sorted"


class CapacityWarnings(BaseModel):
    warnings: list[str] = Field(
        default_factory=list,
        description="(ours) Said when the active tasks, this one included, need more TikHub "
        "calls per second than the key pool allows, and by how much; the task is created "
        "or changed all the same. Empty otherwise.",
    )


class InfluencerTaskView(BaseModel):
    task_id: str
    username: str
    status: TaskStatus
    interval_seconds: int
    tags: list[str] = Field(description=_TAG_LIST_DOC)
    track_posts: bool = Field(description=TRACK_POSTS_DOC)


class InfluencerTaskCreated(InfluencerTaskView, CapacityWarnings):
    """A profile task just created (or restarted)."""


class PostTaskView(BaseModel):
    task_id: str
    post_code: str
    status: TaskStatus
    interval_seconds: int
    tags: list[str] = Field(description=_TAG_LIST_DOC)


class PostTaskCreated(PostTaskView, CapacityWarnings):
    """A post task just created (or restarted)."""


class TaskHealthView(BaseModel):
    """What the task's collections have amounted to so far."""

    state: TaskHealth = Field(
        description=(
            "`pending`: never collected yet; `ok`: the last collection succeeded; `failing`: "
            "the last collection failed on the way (TikHub or the network) and is tried again "
            "at the next slot; `unavailable`: TikHub says the target does not exist or is "
            "private, and it is retried with back-off (twice its interval, then doubling, at "
            "most daily) until it is found again."
        ),
        examples=["ok"],
    )
    last_run_at: datetime | None = Field(
        description="When the last collection (good or failed) was recorded; null if none yet.",
        examples=["2026-11-21T12:30:00Z"],
    )
    last_success_at: datetime | None = Field(
        description="When the last good collection was recorded; null if none yet.",
        examples=["2026-11-21T12:30:00Z"],
    )
    consecutive_failures: int = Field(
        description="Collections that failed in a row since the last good one.", examples=[0]
    )
    last_error: str | None = Field(
        description="Why the last collection failed; null after a good one.", examples=[None]
    )

    @classmethod
    def of(cls, task: Task) -> "TaskHealthView":
        """The health a task's row records."""
        return cls(
            state=task.health,
            last_run_at=task.last_run_at,
            last_success_at=task.last_success_at,
            consecutive_failures=task.consecutive_failures,
            last_error=task.last_error,
        )


class InfluencerTaskItem(InfluencerTaskView):
    created_at: datetime
    updated_at: datetime
    health: TaskHealthView


class PostTaskItem(PostTaskView):
    created_at: datetime
    updated_at: datetime
    health: TaskHealthView


class ExistingTaskView(BaseModel):
    input: str = Field(description="The input, as sent")
    task_id: str = Field(description="The task already monitoring its target")
    status: TaskStatus = Field(description="That task's status (active or paused)")


class InvalidInputView(BaseModel):
    input: str = Field(description="The input, as sent")
    message: str = Field(description="Why it names no username or post")


_CREATED_DOC = "New tasks, and stopped ones restarted, with the request's interval"
_EXISTING_DOC = "Inputs whose target an active or paused task already monitors (left unchanged)"


class InfluencerTasksCreated(BaseModel):
    created: list[InfluencerTaskCreated] = Field(description=_CREATED_DOC)
    existing: list[ExistingTaskView] = Field(description=_EXISTING_DOC)
    invalid: list[InvalidInputView] = Field(description="Inputs that name no username")


class PostTasksCreated(BaseModel):
    created: list[PostTaskCreated] = Field(description=_CREATED_DOC)
    existing: list[ExistingTaskView] = Field(description=_EXISTING_DOC)
    invalid: list[InvalidInputView] = Field(description="Inputs that name no post")


_NOT_FOUND_DOC = "Ids of no task of this kind"
_STILL_STOPPED_DOC = "Stopped tasks, left stopped (create them again to restart them)"


class StoppedTasks(BaseModel):
    deleted_task_ids: list[str] = Field(description="The tasks now stopped")
    not_found_task_ids: list[str] = Field(description=_NOT_FOUND_DOC)


class PausedTasks(BaseModel):
    paused_task_ids: list[str] = Field(description="The tasks now paused")
    stopped_task_ids: list[str] = Field(description=_STILL_STOPPED_DOC)
    not_found_task_ids: list[str] = Field(description=_NOT_FOUND_DOC)


class ResumedTasks(BaseModel):
    resumed_task_ids: list[str] = Field(description="The tasks now active")
    stopped_task_ids: list[str] = Field(description=_STILL_STOPPED_DOC)
    not_found_task_ids: list[str] = Field(description=_NOT_FOUND_DOC)


class TaskUsage(BaseModel):
    """One task's TikHub calls today (UTC) and what it will spend per day at its interval."""

    calls_today: int = Field(
        description="TikHub calls made for the task today (UTC), retries "
        "and fallback endpoints included."
    )
    cost_usd_today: float = Field(description="What today's billed calls cost, in USD.")
    projected_calls_per_day: float = Field(
        description="86,400 / interval while the task is active, plus min(86,400 / interval, "
        "24) samples of the creator's posts when it has track_posts; 0 when paused or stopped."
    )
    projected_cost_usd_per_day: float = Field(
        description="Those calls priced, in USD: the slots at the price of the kind's first "
        "endpoint, the samples at v1 fetch_user_posts'."
    )


class TaskStatusView(BaseModel):
    status: TaskStatus
    tags: list[str] = Field(description=_TAG_LIST_DOC)
    health: TaskHealthView
    usage: TaskUsage


class InfluencerTaskUpdated(TaskStatusView, CapacityWarnings):
    task_id: str
    username: str
    interval_seconds: int
    track_posts: bool = Field(description=TRACK_POSTS_DOC)


class PostTaskUpdated(TaskStatusView, CapacityWarnings):
    task_id: str
    post_code: str
    interval_seconds: int


class TaskStatusChanged(BaseModel):
    task_id: str
    status: TaskStatus


SOURCE_DOC = (
    "`live`: fetched at its slot; `fallback`: TikHub failed and the last good numbers were "
    "stored again (not counted in statistics); `imported`: brought in by an import"
)


class InfluencerHistoryPoint(BaseModel):
    follower_count: int | None
    following_count: int | None
    post_count: int | None
    bio: str | None
    recorded_at: datetime
    source: Source = Field(description=SOURCE_DOC)


class InfluencerHistory(BaseModel):
    username: str
    history: list[InfluencerHistoryPoint]


class PostHistoryPoint(BaseModel):
    like_count: int | None
    comment_count: int | None
    play_count: int | None = Field(description="Only for videos; null otherwise")
    recorded_at: datetime
    source: Source = Field(description=SOURCE_DOC)


class PostHistory(BaseModel):
    post_code: str
    history: list[PostHistoryPoint]


class InvalidImportLine(BaseModel):
    line: int = Field(description="The line of the file it starts on (the header is line 1)")
    message: str = Field(description="Why it holds no importable point")


class HistoryImported(BaseModel):
    imported: int = Field(description="Points stored, with source `imported`")
    skipped: int = Field(
        description="Points whose recorded_at already has a point (collected or imported), "
        "or that the file repeats: the stored point is kept"
    )
    invalid: list[InvalidImportLine] = Field(
        description="Lines that could not be imported, in file order; the others were"
    )


# Statistics (api.md, "Statistics"). Only live and imported points count; "the value at t-w"
# is the last counted point recorded at or before the latest one's time minus w.


class Stats(BaseModel):
    """A statistics body: fields named like "7d" are aliases of Python names."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class Change(Stats):
    from_: int = Field(
        alias="from", description="The count at t-w: the last counted point at or before then."
    )
    to: int = Field(description="The latest counted point's count.")
    delta: int = Field(description="to - from.")
    pct: float | None = Field(
        description="delta / from * 100, rounded to 2 decimals; null when from is 0."
    )


_CHANGE_DOC = "Null when no counted point is that old, or either count is null."


class InfluencerLatest(Stats):
    follower_count: int | None = Field(description="Followers at the latest counted point.")
    following_count: int | None = Field(description="Accounts followed at that point.")
    post_count: int | None = Field(description="Posts at that point.")
    recorded_at: datetime = Field(description="When that point was fetched.")


class InfluencerChange(Stats):
    follower_count: Change | None = Field(description=_CHANGE_DOC)
    following_count: Change | None = Field(description=_CHANGE_DOC)
    post_count: Change | None = Field(description=_CHANGE_DOC)


class InfluencerChanges(Stats):
    day: InfluencerChange = Field(alias="1d", description="Against the value 1 day earlier.")
    week: InfluencerChange = Field(alias="7d", description="Against the value 7 days earlier.")
    month: InfluencerChange = Field(alias="30d", description="Against the value 30 days earlier.")


class AverageDailyGain(Stats):
    week: float | None = Field(alias="7d", description="changes.7d.follower_count.delta / 7.")
    month: float | None = Field(alias="30d", description="changes.30d.follower_count.delta / 30.")


class Milestone(Stats):
    follower_count: int = Field(
        description="The next of 1, 2, 5 * 10^k strictly above the latest follower count."
    )
    days: int = Field(
        description="ceil((milestone - latest) / gain per day), the gain being the 30d average "
        "daily gain, else the 7d one."
    )
    eta: Day = Field(description="The latest point's UTC date + days.")


class DailyEntry(Stats):
    date: Day = Field(description="A UTC day that has a counted point.")
    follower_count: int | None = Field(description="Followers at the day's last counted point.")
    following_count: int | None = Field(description="Accounts followed at that point.")
    post_count: int | None = Field(description="Posts at that point.")
    follower_delta: int | None = Field(
        description="follower_count - the previous entry's (the previous day with a counted "
        "point, even before the window); null for the target's first day or a null count."
    )
    following_delta: int | None = Field(description="The same for following_count.")
    post_delta: int | None = Field(description="The same for post_count.")


class Anomaly(Stats):
    date: Day = Field(description="The day whose follower delta stands out.")
    metric: Literal["follower_count"] = Field(description="The metric whose delta stands out.")
    delta: int = Field(description="That day's follower_delta.")
    score: float = Field(
        description="Modified z-score M = 0.6745 * (delta - median) / MAD over the last 30 daily "
        "follower deltas (MAD replaced by 1.2533 * their mean absolute deviation from the "
        "median when it is 0), 2 decimals; listed when |M| > 3.5."
    )


class SampledPost(Stats):
    post_code: str = Field(description="The post's shortcode.")
    published_at: datetime | None = Field(description="When it was posted; null if not said.")
    media_type: Literal["image", "video", "carousel"] | None = Field(
        description="The kind of post; null if not said."
    )
    like_count: int | None = Field(description="Likes when sampled; null when hidden.")
    comment_count: int | None = Field(description="Comments when sampled.")
    play_count: int | None = Field(
        description="Plays when sampled; null for non-videos (a feed's 0 for them is ignored)."
    )


class Engagement(Stats):
    sampled_at: datetime = Field(description="When the newest sample of the posts was taken.")
    posts_sampled: int = Field(
        description="How many posts the medians are over: the newest 12 that are not pinned "
        "(fewer when the creator has fewer)."
    )
    median_likes: float | None = Field(
        description="Median likes of those posts, hidden likes left out; null if all hidden."
    )
    median_comments: float | None = Field(description="Median comments of those posts.")
    engagement_rate: float | None = Field(
        description="Median over those posts with visible likes of (likes + comments) / "
        "followers * 100, followers as the profile fetch of the sample's slot read them; null "
        "without such posts or followers."
    )
    engagement_rate_by_views: float | None = Field(
        description="The same median over those of them that are videos with plays, of "
        "(likes + comments) / plays * 100; null without such videos."
    )
    posts_per_week: float = Field(
        description="Posts of the sample (each once, pinned or not) published in the 28 days "
        "before sampled_at, / 4. The sample is one page of the feed (up to 50 posts): a "
        "creator who posted more in those 28 days is counted as far as that page reaches."
    )
    posts: list[SampledPost] = Field(
        description="The posts the medians are over, newest first, as the sample saw them."
    )


class UserStats(Stats):
    username: str = Field(description="The monitored username.")
    user_id: int | None = Field(description="The Instagram id, null before the first fetch.")
    latest: InfluencerLatest | None = Field(description="The latest counted point; null if none.")
    changes: InfluencerChanges = Field(description="Change of each count over 1, 7 and 30 days.")
    average_daily_follower_gain: AverageDailyGain = Field(
        description="The 7d and 30d follower changes per day."
    )
    milestone: Milestone | None = Field(
        description="The next follower milestone and when it is reached at the current gain; "
        "null when the gain is ≤ 0 or unknown, or it is more than 365 days away."
    )
    daily: list[DailyEntry] = Field(
        description="One entry per UTC day with a counted point (its last one) within the "
        "`days` days ending on the latest point's date, newest first."
    )
    anomalies: list[Anomaly] = Field(
        description="Days of unusual follower growth, newest first; empty with fewer than 7 "
        "daily deltas."
    )
    engagement: Engagement | None = Field(
        description="How the creator's recent posts engage, from the newest sample of them; "
        "null unless the task has track_posts, and before its first good sample."
    )


class PostLatest(Stats):
    like_count: int | None = Field(description="Likes at the latest counted point.")
    comment_count: int | None = Field(description="Comments at that point.")
    play_count: int | None = Field(description="Plays at that point; null for non-videos.")
    recorded_at: datetime = Field(description="When that point was fetched.")


class PostChange(Stats):
    like_count: Change | None = Field(description=_CHANGE_DOC)
    comment_count: Change | None = Field(description=_CHANGE_DOC)
    play_count: Change | None = Field(description=_CHANGE_DOC)


class PostChanges(Stats):
    hour: PostChange = Field(alias="1h", description="Against the value 1 hour earlier.")
    day: PostChange = Field(alias="24h", description="Against the value 24 hours earlier.")
    week: PostChange = Field(alias="7d", description="Against the value 7 days earlier.")


class PerHour(Stats):
    hour: float | None = Field(alias="1h", description="changes.1h delta / 1.")
    day: float | None = Field(alias="24h", description="changes.24h delta / 24.")


class Velocity(Stats):
    likes_per_hour: PerHour = Field(description="like_count's change per hour.")
    comments_per_hour: PerHour = Field(description="comment_count's change per hour.")
    plays_per_hour: PerHour = Field(description="play_count's change per hour.")


class VideoStats(Stats):
    post_code: str = Field(description="The post's shortcode.")
    post_id: str | None = Field(description="Instagram's media id, once collected.")
    owner_username: str | None = Field(description="Who posted it; null until known.")
    published_at: datetime | None = Field(description="When it was posted; null until known.")
    media_type: Literal["image", "video", "carousel"] | None = Field(
        description="The kind of post; null until known."
    )
    caption: str | None = Field(description="Its caption; null until known.")
    latest: PostLatest | None = Field(description="The latest counted point; null if none.")
    changes: PostChanges = Field(description="Change of each count over 1 h, 24 h and 7 days.")
    velocity: Velocity = Field(description="Changes per hour over the last 1 h and 24 h.")
    engagement_rate_by_plays: float | None = Field(
        description="(likes + comments) / plays * 100 at the latest point; null without plays."
    )
    engagement_rate_by_followers: float | None = Field(
        description="(likes + comments) / the owner's latest follower count * 100 when the owner "
        "is a monitored influencer; else null."
    )


# Usage and cost (api.md, "Usage and cost").


class UsageToday(BaseModel):
    calls: int = Field(
        description="TikHub calls today (UTC): retries, fallback endpoints, "
        "failed and refused calls and balance checks included."
    )
    billable_calls: int = Field(
        description="The calls TikHub answered with success (errors are not billed)."
    )
    cost_usd: float = Field(description="Σ billable calls x the price of their endpoint, in USD.")


class UsageDay(BaseModel):
    date: Day
    calls: int
    cost_usd: float


class UsageProjection(BaseModel):
    calls_per_day: float = Field(
        description="Σ 86,400 / interval over the active tasks, plus min(86,400 / interval, 24) "
        "post samples a day for each active track_posts task (one a slot, at most one an hour)."
    )
    cost_usd_per_day: float = Field(
        description="Those calls priced: each slot at the price of its task's first endpoint, "
        "each post sample at v1 fetch_user_posts'."
    )
    cost_usd_per_30_days: float = Field(description="cost_usd_per_day x 30.")


KeyState = Literal["healthy", "cooling_off", "rejected", "retired"]


class UsageKey(BaseModel):
    fingerprint: str = Field(
        description="The first 16 hex digits of the key's SHA-256: names the key without "
        "showing it."
    )
    state: KeyState = Field(
        description="healthy: in rotation; cooling_off: its breaker is open after failures; "
        "rejected: TikHub refused it (401/402/403), out of rotation until fixed; retired: "
        "called today but no longer in the pool."
    )
    calls_today: int
    rate_limit_per_second: float | None = Field(
        description="(ours) The key's own calls per second; null for a retired key."
    )


class TikHubUsage(BaseModel):
    today: UsageToday
    daily: list[UsageDay] = Field(description="The last 30 UTC days, newest first, today included.")
    projected: UsageProjection
    rate_limit_per_second: float = Field(
        description="The pool's capacity: the sum of the rate limits of its usable keys."
    )
    capacity_used_pct: float | None = Field(
        description="projected.calls_per_day / 86,400 / rate_limit_per_second x 100, 2 decimals; "
        "null when no key is usable."
    )
    balance_usd: float | None = Field(
        description="The account balance TikHub's account endpoint last reported (polled at "
        "most every 10 minutes; the sum over distinct accounts of a pool); null when unknown."
    )
    free_credit_usd: float | None = Field(
        description="(ours) Free credit reported alongside; Instagram endpoints do not spend it."
    )
    balance_checked_at: datetime | None = Field(description="(ours) When the balance was read.")
    runway_days: float | None = Field(
        description="balance_usd / projected.cost_usd_per_day, 1 decimal; null when either is "
        "unknown or nothing is projected."
    )
    daily_budget_usd: float | None = Field(description="TIKHUB_DAILY_BUDGET_USD; null: no cap.")
    budget_exceeded_at: datetime | None = Field(
        description="(ours) When today's budget was reached; null while it is not."
    )
    budget_skipped_slots_today: int = Field(
        description="(ours) Slots skipped today because the budget was spent (no row written)."
    )
    keys: list[UsageKey]
    warnings: list[str] = Field(
        description="(ours) Said when the active tasks need more calls per second than the pool "
        "allows, and by how much."
    )


class TaskCounts(BaseModel):
    active: int
    paused: int
    stopped: int


class Usage(BaseModel):
    tikhub: TikHubUsage
    tasks: TaskCounts
