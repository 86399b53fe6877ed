"""Which points a history read asks for: `granularity`, `limit`, `since` and `until` from the
query string."""

import enum
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Query

from services.api.errors import InvalidInput
from shared.repositories.rollups import Grain

DEFAULT_HISTORY_LIMIT = 100
MAX_HISTORY_LIMIT = 1000

# RFC 3339, the profile of ISO-8601 that OpenAPI's `date-time` means: a zone is required, so no
# time is ambiguous. (Pydantic's datetime would take "0.5" as a Unix time, fromisoformat a date.)
RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", re.IGNORECASE
)
UNENCODED_PLUS = re.compile(r" (\d{2}:\d{2})$")
TIME_EXAMPLE = "2026-11-21T12:00:00Z"
# DATETIME's range in MySQL and MariaDB: a bound beyond it selects the same rows as the limit.
EARLIEST = datetime(1000, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


class Granularity(enum.StrEnum):
    """Every stored point, or one per UTC hour or day."""

    RAW = "raw"
    HOUR = "hour"
    DAY = "day"


@dataclass(frozen=True, slots=True)
class HistoryWindow:
    """The newest `limit` points (of each `grain` bucket, its last counted one), optionally only
    those between two UTC times."""

    limit: int = DEFAULT_HISTORY_LIMIT
    since: datetime | None = None
    until: datetime | None = None
    grain: Grain | None = None

    @property
    def is_default(self) -> bool:
        """Only the default view is cached: it is what clients poll."""
        return (
            self.limit == DEFAULT_HISTORY_LIMIT
            and self.since is None
            and self.until is None
            and self.grain is None
        )


def _time_query(description: str) -> object:
    return Query(
        description=f"{description} (ISO-8601 with Z or an offset, e.g. {TIME_EXAMPLE})",
        json_schema_extra={"format": "date-time"},
    )


GranularityQuery = Annotated[
    Granularity,
    Query(
        description="`raw`: every stored point. `hour` / `day`: one point per UTC hour or day, "
        "the last counted one of it, read from the hourly and daily roll-ups; fallback points "
        "are left out (a bucket holding only fallback points has no point). `limit`, `since` "
        "and `until` then apply to the buckets: a bucket is in when its hour or day overlaps "
        "since..until, and its point may lie outside them."
    ),
]
LimitQuery = Annotated[
    int,
    Query(
        ge=1,
        le=MAX_HISTORY_LIMIT,
        description="How many points (with hour / day, buckets), newest first",
    ),
]
SinceQuery = Annotated[str | None, _time_query("Only points recorded at or after this time")]
UntilQuery = Annotated[str | None, _time_query("Only points recorded at or before this time")]


def history_window(
    limit: int, since: str | None, until: str | None, granularity: Granularity
) -> HistoryWindow:
    """The window of a history read, with both ends in UTC."""
    since_utc = _parse_time("since", since)
    until_utc = _parse_time("until", until)
    if since_utc is not None and until_utc is not None and since_utc > until_utc:
        raise InvalidInput.for_field("since", "must not be later than until")
    grain = None if granularity is Granularity.RAW else Grain(granularity.value)
    return HistoryWindow(limit=limit, since=since_utc, until=until_utc, grain=grain)


def _parse_time(field: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_utc_time(text)
    except ValueError as error:
        raise InvalidInput.for_field(field, str(error)) from None


def parse_utc_time(text: str) -> datetime:
    """An RFC 3339 time (a zone required) in UTC; a ValueError saying what is wrong."""
    problem = f"must be a date and time with Z or an offset, such as {TIME_EXAMPLE}"
    # A '+' typed into a query string unencoded arrives as a space; no time has a space there.
    text = UNENCODED_PLUS.sub(r"+\1", text)
    if not RFC3339.fullmatch(text):
        raise ValueError(problem)
    try:
        moment = datetime.fromisoformat(text.upper())
    except ValueError:
        raise ValueError(f"is not a real date and time; it {problem}") from None
    try:
        return max(EARLIEST, min(moment.astimezone(UTC), LATEST))
    except OverflowError:  # past year 9999 once moved to UTC
        return LATEST
