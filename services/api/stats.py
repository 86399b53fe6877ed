"""Growth statistics of a target, from its counted points (never a fallback) and roll-ups."""

import math
import statistics
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.api.engagement import creator_engagement
from services.api.history import target_named, task_of
from shared.growth import METRICS, Point, change, changes_over, next_milestone
from shared.instagram import InvalidInstagramInput, parse_username
from shared.models import (
    POST_DETAILS,
    InfluencerDaily,
    InfluencerMetricsHistory,
    PostMetricsHistory,
    PostSample,
    PostSampleItem,
    TaskType,
)
from shared.repositories.driver import driver_reads
from shared.repositories.history import HistoryReads
from shared.repositories.post_samples import PostSampleRepository
from shared.repositories.rollups import newest_buckets
from shared.repositories.tasks import task_by_target
from shared.schemas import UserStats, VideoStats

INFLUENCER_METRICS = METRICS[TaskType.INFLUENCER]
POST_METRICS = METRICS[TaskType.POST]
INFLUENCER_WINDOWS = {"1d": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30)}
POST_WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
DEFAULT_DAYS = 30
MAX_DAYS = 365
# Anomalies look at this many daily follower deltas and need at least the second number.
ANOMALY_DELTAS = 30
MIN_ANOMALY_DELTAS = 7
ANOMALY_THRESHOLD = 3.5
MILESTONE_HORIZON_DAYS = 365


class StatsService:
    """Answers the statistics routes; reads only, so each reads on a connection of its own,
    by the driver (an ORM session only for a creator's sample of posts)."""

    def __init__(self, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.engine = engine
        self.sessions = sessions

    async def influencer(self, user: str, days: int) -> UserStats:
        """A profile's growth, by numeric Instagram id or username."""
        async with driver_reads(self.engine) as reads:
            task = await task_of(reads, target_named(TaskType.INFLUENCER, user))
            latest, changes = await changes_over(
                HistoryReads(reads),
                InfluencerMetricsHistory,
                task.id,
                INFLUENCER_METRICS,
                INFLUENCER_WINDOWS,
            )
            # The days shown (at most one bucket a day) or the anomalies' deltas, and the
            # bucket before them for the oldest one's delta.
            buckets = await newest_buckets(
                reads,
                InfluencerDaily,
                task.id,
                INFLUENCER_METRICS,
                limit=max(days, ANOMALY_DELTAS) + 1,
            )
        sample = await self._sample(task.id) if task.track_posts else None
        entries = _daily(buckets)
        gains = {
            w: _per(changes[w]["follower_count"], days) for w, days in (("7d", 7), ("30d", 30))
        }
        first_day = None if latest is None else latest["recorded_at"].date() - timedelta(days=days)
        return UserStats.model_validate(
            {
                "username": task.target,
                "user_id": task.user_id,
                "latest": latest,
                "changes": changes,
                "average_daily_follower_gain": gains,
                "milestone": _milestone(
                    latest, gains["30d"] if gains["30d"] is not None else gains["7d"]
                ),
                "daily": [e for e in entries if first_day is None or e["date"] > first_day],
                "anomalies": _anomalies(entries),
                "engagement": None if sample is None else creator_engagement(*sample),
            }
        )

    async def _sample(self, task_id: str) -> tuple[PostSample, list[PostSampleItem]] | None:
        """The task's newest good sample of posts, as the models the engagement is computed
        from."""
        async with self.sessions() as session:
            return await PostSampleRepository(session).latest_good(task_id)

    async def post(self, post_code: str) -> VideoStats:
        """A post's growth and engagement, by shortcode."""
        target = target_named(TaskType.POST, post_code)
        async with driver_reads(self.engine) as reads:
            task = await task_of(reads, target)
            points = HistoryReads(reads)
            latest, changes = await changes_over(
                points, PostMetricsHistory, task.id, POST_METRICS, POST_WINDOWS
            )
            followers = await _owner_followers(points, task.owner_username)
        per_hour = {
            name: {w: _per(changes[w][metric], hours) for w, hours in (("1h", 1), ("24h", 24))}
            for name, metric in (
                ("likes_per_hour", "like_count"),
                ("comments_per_hour", "comment_count"),
                ("plays_per_hour", "play_count"),
            )
        }
        return VideoStats.model_validate(
            {
                "post_code": task.target,
                "post_id": task.post_id,
                **{name: getattr(task, name) for name in POST_DETAILS},
                "latest": latest,
                "changes": changes,
                "velocity": per_hour,
                "engagement_rate_by_plays": _engagement(latest, _plays(latest)),
                "engagement_rate_by_followers": _engagement(latest, followers),
            }
        )


def _per(moved: Mapping[str, Any] | None, units: int) -> float | None:
    return None if moved is None else moved["delta"] / units


def _daily(buckets: Sequence[Point]) -> list[dict[str, Any]]:
    """Daily entries, newest first, each with its deltas against the next older bucket."""
    entries = []
    for index, bucket in enumerate(buckets):
        previous = buckets[index + 1] if index + 1 < len(buckets) else None
        entry: dict[str, Any] = {"date": bucket["bucket_start"].date()}
        for metric, delta in (
            ("follower_count", "follower_delta"),
            ("following_count", "following_delta"),
            ("post_count", "post_delta"),
        ):
            entry[metric] = bucket[metric]
            moved = None if previous is None else change(previous[metric], bucket[metric])
            entry[delta] = None if moved is None else moved["delta"]
        entries.append(entry)
    return entries


def _milestone(latest: Point | None, gain: float | None) -> dict[str, Any] | None:
    if latest is None or latest["follower_count"] is None or gain is None or gain <= 0:
        return None
    followers = latest["follower_count"]
    goal = next_milestone(followers)
    days = math.ceil((goal - followers) / gain)
    if days > MILESTONE_HORIZON_DAYS:
        return None
    eta = latest["recorded_at"].date() + timedelta(days=days)
    return {"follower_count": goal, "days": days, "eta": eta}


def _anomalies(entries: Sequence[Point]) -> list[dict[str, Any]]:
    days = [e for e in entries if e["follower_delta"] is not None][:ANOMALY_DELTAS]
    if len(days) < MIN_ANOMALY_DELTAS:
        return []
    deltas = [e["follower_delta"] for e in days]
    median = statistics.median(deltas)
    spread = statistics.median(abs(d - median) for d in deltas)
    if spread == 0:
        # Most days equal: the MAD says nothing, the mean deviation still does.
        spread = 1.2533 * statistics.fmean(abs(d - median) for d in deltas)
    if spread == 0:  # every day the same: nothing stands out
        return []
    found = []
    for entry, delta in zip(days, deltas, strict=True):
        score = 0.6745 * (delta - median) / spread
        if abs(score) > ANOMALY_THRESHOLD:
            found.append(
                {
                    "date": entry["date"],
                    "metric": "follower_count",
                    "delta": delta,
                    "score": round(score, 2),
                }
            )
    return found


async def _owner_followers(points: HistoryReads, owner: str | None) -> int | None:
    """The latest counted follower count of a post's owner, when an influencer task monitors
    them."""
    if owner is None:
        return None
    try:
        username = parse_username(owner)
    except InvalidInstagramInput:  # TikHub's word, not a name a task could watch
        return None
    task = await task_by_target(points.reads, TaskType.INFLUENCER, username)
    if task is None:
        return None
    (point,) = await points.counted_points_back(
        InfluencerMetricsHistory, task.id, ("follower_count",)
    )
    return None if point is None else point["follower_count"]


def _plays(latest: Point | None) -> int | None:
    return None if latest is None else latest["play_count"]


def _engagement(latest: Point | None, audience: int | None) -> float | None:
    """(likes + comments) at the latest point per `audience`, in percent; null without either."""
    if latest is None or not audience:
        return None
    if latest["like_count"] is None or latest["comment_count"] is None:
        return None
    engaged: int = latest["like_count"] + latest["comment_count"]
    return engaged / audience * 100
