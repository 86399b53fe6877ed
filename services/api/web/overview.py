"""The targets table, a page at a time: each task with its tags, its latest count, its 7-day
change and a 30-day trend, read for every task of the page at once: the trend and the latest
point from the daily roll-up, the value a week before it from the rows, so the change is the
one user_stats and video_stats report."""

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
from shared.repositories.tasks import TaggedTask, TaskRepository

TREND_DAYS = 30
CHANGE_WINDOW = timedelta(days=7)
# The count a row shows for each kind, its roll-up and its rows.
HEADLINE: dict[TaskType, tuple[str, BucketModel, HistoryModel]] = {
    TaskType.INFLUENCER: ("follower_count", InfluencerDaily, InfluencerMetricsHistory),
    TaskType.POST: ("like_count", PostDaily, PostMetricsHistory),
}
# Rows on one page of the table.
PAGE_SIZE = 50
SPARKLINE_WIDTH = 100
SPARKLINE_HEIGHT = 24


@dataclass(frozen=True, slots=True)
class TargetRow:
    """One line of the targets table."""

    task: Task
    tags: list[str]
    latest: int | None
    change: int | None
    change_pct: float | None
    # The trend's points as an SVG polyline's `points`, empty below two days with a count.
    sparkline: str


@dataclass(frozen=True, slots=True)
class TargetFilter:
    """Which targets the table lists: part of the target's name, a status, a tag."""

    text: str = ""
    status: TaskStatus | None = None
    tag: str | None = None

    @property
    def needle(self) -> str:
        return self.text.strip().lstrip("@")

    def __bool__(self) -> bool:
        return bool(self.needle or self.status or self.tag)


@dataclass(frozen=True, slots=True)
class TableQuery:
    """Which table the page shows: the kind of target, the filter and the page number."""

    kind: TaskType
    listed: TargetFilter
    page: int


@dataclass(frozen=True, slots=True)
class TargetPage:
    """One page of the targets table, and where it lies among the targets the filter lists."""

    rows: list[TargetRow]
    number: int
    total: int

    @property
    def pages(self) -> int:
        return _pages(self.total)

    @property
    def first(self) -> int:
        """The position (from 1) of the page's first row; 0 on an empty page."""
        return (self.number - 1) * PAGE_SIZE + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1 if self.rows else 0


async def table_page(session: AsyncSession, query: TableQuery) -> TargetPage:
    """Page `query.page` (from 1; past the last, the last) of the tasks of its kind that its
    filter lets through, oldest first."""
    repository = TaskRepository(session)
    task_type, listed = query.kind, query.listed
    status, tag, contains = listed.status, listed.tag, listed.needle
    total = await repository.count_listed(task_type, status=status, tag=tag, contains=contains)
    number = min(max(1, query.page), _pages(total))
    tagged = await repository.list_tagged(
        task_type,
        status=status,
        tag=tag,
        contains=contains,
        offset=(number - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
    )
    return TargetPage(await _rows(session, task_type, tagged), number, total)


def _pages(total: int) -> int:
    """How many pages `total` rows fill; an empty table is one empty page."""
    return max(1, -(-total // PAGE_SIZE))


async def _rows(
    session: AsyncSession, task_type: TaskType, tagged: Sequence[TaggedTask]
) -> list[TargetRow]:
    field, rollup, history = HEADLINE[task_type]
    since = Grain.DAY.start(utcnow() - timedelta(days=TREND_DAYS))
    trends = await RollupRepository(session).buckets_since(
        rollup, [row.task.id for row in tagged], field, since=since
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
            row,
            [day[field] for day in trends[row.task.id]],
            latest[row.task.id][field] if row.task.id in latest else None,
            week_before.get(row.task.id),
        )
        for row in tagged
    ]


def _row(
    tagged: TaggedTask, days: Sequence[int | None], latest: int | None, then: int | None
) -> TargetRow:
    change = change_pct = None
    if latest is not None and then is not None:
        change = latest - then
        change_pct = None if then == 0 else round(change / then * 100, 2)
    trend = sparkline([value for value in days if value is not None])
    return TargetRow(tagged.task, tagged.tags, latest, change, change_pct, trend)


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
