"""What a newly stored counted point sets off: alert edges and follower milestones, written as
events in the point's own transaction (see shared.events)."""

import enum
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.events import EventType, record_event
from shared.growth import changes_over, milestone_reached
from shared.models import (
    Alert,
    AlertCondition,
    AlertState,
    InfluencerMetricsHistory,
    Source,
)
from shared.repositories.alerts import AlertRepository, MilestoneRepository
from shared.repositories.rollups import HistoryModel

if TYPE_CHECKING:  # the history repository calls this module as it stores points
    from shared.repositories.history import HistoryRepository

Row = Mapping[str, Any]


class AlertWindow(enum.StrEnum):
    """The windows change conditions compare over."""

    HOUR = "1h"
    DAY = "1d"
    WEEK = "7d"

    @property
    def length(self) -> timedelta:
        return WINDOW_LENGTHS[self]


WINDOW_LENGTHS = {
    AlertWindow.HOUR: timedelta(hours=1),
    AlertWindow.DAY: timedelta(days=1),
    AlertWindow.WEEK: timedelta(days=7),
}


async def after_points(
    points: "HistoryRepository", model: HistoryModel, rows: Sequence[Row]
) -> None:
    """Evaluate the alerts and milestone of each task whose newest counted point is among
    `rows` (just stored, in the caller's transaction). A fallback point repeats an old value
    and an imported point older than the latest changes nothing now, so neither counts."""
    newest: dict[str, Row] = {}
    for row in rows:
        if not Source(row["source"]).counts:
            continue
        held = newest.get(row["task_id"])
        if held is None or row["recorded_at"] >= held["recorded_at"]:
            newest[row["task_id"]] = row
    if not newest:
        return
    superseded = await points.tasks_with_later_counted_points(
        model, {task_id: row["recorded_at"] for task_id, row in newest.items()}
    )
    latest = {task_id: row for task_id, row in newest.items() if task_id not in superseded}
    if model is InfluencerMetricsHistory:
        await _milestones(points, latest)
    await _alerts(points, model, latest)


async def _milestones(points: "HistoryRepository", latest: Mapping[str, Row]) -> None:
    counted = {t: row for t, row in latest.items() if row["follower_count"] is not None}
    milestones = MilestoneRepository(points.session)
    reached = await milestones.lock_of_tasks(sorted(counted))
    for task_id, row in sorted(counted.items()):
        milestone = milestone_reached(row["follower_count"])
        if milestone is None:
            continue
        held = reached.get(task_id)
        if held is None:
            # The first count seen is where the profile stands, not a milestone it crossed.
            await milestones.add(task_id, milestone, now=row["recorded_at"])
            continue
        if milestone <= held.milestone:
            continue  # reached before: each milestone is told once, even after a dip
        held.milestone, held.reached_at = milestone, row["recorded_at"]
        await record_event(
            points.session,
            EventType.MILESTONE_REACHED,
            {
                "task_id": task_id,
                "username": row["username"],
                "milestone": milestone,
                "value": row["follower_count"],
                "recorded_at": row["recorded_at"],
            },
        )


async def _alerts(
    points: "HistoryRepository", model: HistoryModel, latest: Mapping[str, Row]
) -> None:
    alerts = await AlertRepository(points.session).lock_of_tasks(sorted(latest))
    by_task: dict[str, list[Alert]] = {}
    for alert in alerts:
        by_task.setdefault(alert.task_id, []).append(alert)
    for task_id, task_alerts in by_task.items():
        row = latest[task_id]
        metrics = sorted({alert.metric for alert in task_alerts})
        windows = {a.window: AlertWindow(a.window).length for a in task_alerts if a.window}
        point: Row | None = row  # the latest counted point, as checked above
        changes: Mapping[str, Mapping[str, Any]] = {}
        if windows:
            reads = await points.reads()
            point, changes = await changes_over(reads, model, task_id, metrics, windows)
        if point is None:
            continue
        target = row["username"] if model is InfluencerMetricsHistory else row["post_code"]
        for alert in task_alerts:
            await _evaluate(points, alert, _value(alert, point, changes), row, target)


def _value(alert: Alert, point: Row, changes: Mapping[str, Mapping[str, Any]]) -> float | None:
    """What the alert's condition compares with its threshold; None when it is unknown."""
    if not alert.condition.over_window:
        value = point[alert.metric]
        return None if value is None else float(value)
    assert alert.window is not None, "a change condition always has a window"
    moved = changes[alert.window][alert.metric]
    if moved is None:
        return None
    pct = alert.condition in (AlertCondition.CHANGE_PCT_ABOVE, AlertCondition.CHANGE_PCT_BELOW)
    value = moved["pct"] if pct else moved["delta"]
    return None if value is None else float(value)


def holds(condition: AlertCondition, value: float, threshold: float) -> bool:
    """Whether `value` meets the condition."""
    if condition in (
        AlertCondition.ABOVE,
        AlertCondition.CHANGE_ABOVE,
        AlertCondition.CHANGE_PCT_ABOVE,
    ):
        return value > threshold
    return value < threshold


async def _evaluate(
    points: "HistoryRepository", alert: Alert, value: float | None, row: Row, target: str
) -> None:
    recorded_at: datetime = row["recorded_at"]
    alert.last_value, alert.last_evaluated_at = value, recorded_at
    if value is None:
        return  # nothing known: the alert stays as it was
    met = holds(alert.condition, value, alert.threshold)
    if alert.state is AlertState.OK and met:
        cooldown_ends = (
            None
            if alert.last_resolved_at is None
            else alert.last_resolved_at + timedelta(seconds=alert.cooldown_seconds)
        )
        if cooldown_ends is not None and recorded_at < cooldown_ends:
            return
        alert.state, alert.last_triggered_at = AlertState.TRIGGERED, recorded_at
        event = EventType.ALERT_TRIGGERED
    elif alert.state is AlertState.TRIGGERED and not met:
        alert.state, alert.last_resolved_at = AlertState.OK, recorded_at
        event = EventType.ALERT_RESOLVED
    else:
        return
    await record_event(
        points.session,
        event,
        {
            "alert_id": alert.id,
            "task_id": alert.task_id,
            "target": target,
            "metric": alert.metric,
            "condition": alert.condition.value,
            "threshold": alert.threshold,
            "window": alert.window,
            "value": value,
            "recorded_at": recorded_at,
        },
    )
