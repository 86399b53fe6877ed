"""How counts grow: the change of a target's counts over a window, and follower milestones.

The statistics routes and the alert rules both read changes from here, so a change means the
same thing in both: from the last counted point at or before (latest - window) to the latest
counted point, never a fallback.
"""

import enum
import itertools
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shared.models import TaskType
from shared.repositories.rollups import HistoryModel

if TYPE_CHECKING:  # the history repository applies the rules of this module to what it stores
    from shared.repositories.history import HistoryReads

Point = Mapping[str, Any]
Change = dict[str, Any]


class Metric(enum.StrEnum):
    """A count of a target, as statistics and alerts name it."""

    FOLLOWER_COUNT = "follower_count"
    FOLLOWING_COUNT = "following_count"
    POST_COUNT = "post_count"
    LIKE_COUNT = "like_count"
    COMMENT_COUNT = "comment_count"
    PLAY_COUNT = "play_count"


# The counts of each kind of task.
METRICS: dict[TaskType, tuple[str, ...]] = {
    TaskType.INFLUENCER: (Metric.FOLLOWER_COUNT, Metric.FOLLOWING_COUNT, Metric.POST_COUNT),
    TaskType.POST: (Metric.LIKE_COUNT, Metric.COMMENT_COUNT, Metric.PLAY_COUNT),
}
# Follower counts worth telling: 1, 2, 5, 10, 20, 50, 100, …
MILESTONE_STEPS = (1, 2, 5)


async def changes_over(
    points: "HistoryReads",
    history: HistoryModel,
    task_id: str,
    metrics: Sequence[str],
    windows: Mapping[str, timedelta],
) -> tuple[Point | None, dict[str, dict[str, Change | None]]]:
    """The task's latest counted point, and each metric's change over each window up to it."""
    latest, *earlier = await points.counted_points_back(
        history, task_id, metrics, list(windows.values())
    )
    changes = {
        window: {
            metric: None if then is None or latest is None else change(then[metric], latest[metric])
            for metric in metrics
        }
        for window, then in zip(windows, earlier, strict=True)
    }
    return latest, changes


def change(before: int | None, after: int | None) -> Change | None:
    """From `before` to `after`: the delta, and the percentage (null from zero); null without
    either number."""
    if before is None or after is None:
        return None
    delta = after - before
    pct = None if before == 0 else round(delta / before * 100, 2)
    return {"from": before, "to": after, "delta": delta, "pct": pct}


def _milestones() -> Iterator[int]:
    for scale in itertools.count():
        for step in MILESTONE_STEPS:
            yield step * 10**scale


def next_milestone(followers: int) -> int:
    """The first milestone above `followers`."""
    return next(m for m in _milestones() if m > followers)


def milestone_reached(followers: int) -> int | None:
    """The highest milestone at or below `followers`; None below the first."""
    reached = None
    for milestone in _milestones():
        if milestone > followers:
            return reached
        reached = milestone
    raise AssertionError("the milestones are endless")  # pragma: no cover
