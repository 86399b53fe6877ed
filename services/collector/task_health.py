"""A task's health after a collection: the one rule for its state, failure count and events.

`SlotWriter._commit` applies `next_health` to every record in the transaction that stores the
record's row or failure, with the task's row locked; the events it names are decided there, once,
so whatever reacts to them (a log line and a counter today, webhook deliveries later) sees each
change exactly once and only if it was committed.
"""

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.models import TaskHealth

# `task.failing` is announced when this many collections in a row have failed.
FAILING_EVENT_AFTER = 3
# An unavailable target is retried at least this often, whatever its back-off.
MAX_UNAVAILABLE_BACKOFF = timedelta(days=1)


class Result(enum.StrEnum):
    """What a collection amounted to, as health sees it."""

    SUCCESS = "success"
    # Failed on the way (TikHub error, network, timeout): a fallback row, if any, repeats
    # the last good numbers.
    FAILED = "failed"
    # TikHub answered that the target does not exist or is private.
    UNAVAILABLE = "unavailable"


class HealthEvent(enum.StrEnum):
    """A change of health worth telling someone about (the webhook event names)."""

    FAILING = "task.failing"
    RECOVERED = "task.recovered"
    UNAVAILABLE = "task.unavailable"


@dataclass(frozen=True, slots=True)
class Health:
    """The part of a task that health rules read and write."""

    state: TaskHealth
    consecutive_failures: int


@dataclass(frozen=True, slots=True)
class HealthChange:
    """One record's effect on its task's health."""

    task_id: str
    previous: Health
    current: Health
    event: HealthEvent | None


def next_health(task_id: str, previous: Health, result: Result) -> HealthChange:
    """The task's health once `result` is recorded, and the event the change amounts to."""
    if result is Result.SUCCESS:
        current = Health(TaskHealth.OK, 0)
        # Recovered from what was announced: unavailable, or failing long enough for
        # `task.failing`.
        announced = previous.state is TaskHealth.UNAVAILABLE or (
            previous.state is TaskHealth.FAILING
            and previous.consecutive_failures >= FAILING_EVENT_AFTER
        )
        event = HealthEvent.RECOVERED if announced else None
        return HealthChange(task_id, previous, current, event)
    failures = previous.consecutive_failures + 1
    if result is Result.UNAVAILABLE:
        current = Health(TaskHealth.UNAVAILABLE, failures)
        event = None if previous.state is TaskHealth.UNAVAILABLE else HealthEvent.UNAVAILABLE
        return HealthChange(task_id, previous, current, event)
    current = Health(TaskHealth.FAILING, failures)
    event = HealthEvent.FAILING if failures == FAILING_EVENT_AFTER else None
    return HealthChange(task_id, previous, current, event)


def unavailable_retry_at(slot: datetime, *, interval_seconds: int, failures: int) -> datetime:
    """When an unavailable target is next tried: its interval doubled for each failure in a
    row (two intervals after the first), at most a day (or one interval, if that is longer)."""
    interval = timedelta(seconds=interval_seconds)
    # Past the cap the exponent no longer matters; bounding it keeps the number small.
    backoff: timedelta = interval * 2 ** min(failures, 32)
    return slot + min(backoff, max(MAX_UNAVAILABLE_BACKOFF, interval))
