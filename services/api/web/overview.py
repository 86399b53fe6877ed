"""The targets table: each task with its latest count, its 7-day change and a 30-day trend,
read for every listed task at once: the trend and the latest point from the daily roll-up,
the value a week before it from the rows, so the change is the one user_stats and
video_stats report."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import (
    InfluencerDaily,
    InfluencerMetricsHistory,
    PostDaily,
    PostMetricsHistory,
    Task,
    TaskStatus,
    TaskType,
    utcnow,
)
from shared.repositories.history import HistoryRepository
from shared.repositories.rollups import BucketModel, Grain, HistoryModel, RollupRepository
from shared.repositories.tasks import TaskRepository

TREND_DAYS = 30
CHANGE_WINDOW = timedelta(days=7)
# The count a row shows for each kind, its roll-up and its rows.
HEADLINE: dict[TaskType, tuple[str, BucketModel, HistoryModel]] = {
    TaskType.INFLUENCER: ("follower_count", InfluencerDaily, InfluencerMetricsHistory),
    TaskType.POST: ("like_count", PostDaily, PostMetricsHistory),
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
    field, rollup, history = HEADLINE[task_type]
    since = Grain.DAY.start(utcnow() - timedelta(days=TREND_DAYS))
    trends = await RollupRepository(session).buckets_since(
        rollup, [task.id for task in tasks], field, since=since
    )
    # The newest day's bucket holds the newest counted point.
    latest = {task_id: days[-1] for task_id, days in trends.items() if days}
    week_before = await HistoryRepository(session).counted_values_at(
        history,
        field,
        {task_id: point["recorded_at"] - CHANGE_WINDOW for task_id, point in latest.items()},
    )
    return [
        _row(
            task,
            [day[field] for day in trends[task.id]],
            latest[task.id][field] if task.id in latest else None,
            week_before.get(task.id),
        )
        for task in tasks
    ]


def _row(task: Task, days: Sequence[int | None], latest: int | None, then: int | None) -> TargetRow:
    change = change_pct = None
    if latest is not None and then is not None:
        change = latest - then
        change_pct = None if then == 0 else round(change / then * 100, 2)
    trend = sparkline([value for value in days if value is not None])
    return TargetRow(task, latest, change, change_pct, trend)


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
