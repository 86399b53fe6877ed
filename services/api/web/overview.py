"""The targets table: each task with its latest count, its 7-day change and a 30-day trend,
read for every listed task at once from the daily roll-up."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import InfluencerDaily, PostDaily, Task, TaskStatus, TaskType, utcnow
from shared.repositories.rollups import BucketModel, Grain, RollupRepository
from shared.repositories.tasks import TaskRepository

TREND_DAYS = 30
CHANGE_WINDOW = timedelta(days=7)
# The count a row shows for each kind, and the roll-up it is read from.
HEADLINE: dict[TaskType, tuple[str, BucketModel]] = {
    TaskType.INFLUENCER: ("follower_count", InfluencerDaily),
    TaskType.POST: ("like_count", PostDaily),
}
SPARKLINE_WIDTH = 100
SPARKLINE_HEIGHT = 24


@dataclass(frozen=True, slots=True)
class TargetRow:
    """One line of the targets table."""

    task: Task
    latest: int | None
    change: int | None
    change_pct: float | None
    # The trend's points as an SVG polyline's `points`, empty below two days with a count.
    sparkline: str


async def target_rows(
    session: AsyncSession, task_type: TaskType, *, text: str, status: TaskStatus | None
) -> list[TargetRow]:
    """The tasks of one kind whose target contains `text` (and with `status`), oldest first."""
    needle = text.strip().lstrip("@").lower()
    tasks = [
        task
        for task in await TaskRepository(session).list_by_type(task_type)
        if (status is None or task.status is status)
        # Post codes are case-sensitive, but a search box is not.
        and needle in task.target.lower()
    ]
    field, model = HEADLINE[task_type]
    since = Grain.DAY.start(utcnow() - timedelta(days=TREND_DAYS))
    buckets = await RollupRepository(session).buckets_since(
        model, [task.id for task in tasks], field, since=since
    )
    return [_row(task, buckets[task.id], field) for task in tasks]


def _row(task: Task, days: Sequence[dict[str, Any]], field: str) -> TargetRow:
    counted = [day for day in days if day[field] is not None]
    if not counted:
        return TargetRow(task, None, None, None, "")
    latest = counted[-1]
    # The last day whose last point is at least a week older than the latest point.
    cutoff = latest["recorded_at"] - CHANGE_WINDOW
    then = next((day for day in reversed(counted) if day["recorded_at"] <= cutoff), None)
    change = change_pct = None
    if then is not None:
        change = latest[field] - then[field]
        change_pct = None if then[field] == 0 else round(change / then[field] * 100, 2)
    return TargetRow(
        task, latest[field], change, change_pct, sparkline([day[field] for day in counted])
    )


def sparkline(values: Sequence[int]) -> str:
    """SVG polyline points drawing `values` left to right, scaled to fill the box."""
    if len(values) < 2:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1
    step = SPARKLINE_WIDTH / (len(values) - 1)
    return " ".join(
        f"{index * step:.1f},{SPARKLINE_HEIGHT - (value - low) / span * SPARKLINE_HEIGHT:.1f}"
        for index, value in enumerate(values)
    )
