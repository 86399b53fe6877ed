"""The monitoring intervals a client may choose, by name."""

from enum import StrEnum


class Interval(StrEnum):
    """An interval name as the API accepts it."""

    SECONDS_30 = "30s"
    MINUTES_30 = "30m"
    HOUR_1 = "1h"
    DAY_1 = "1d"
    DAYS_7 = "7d"

    @property
    def seconds(self) -> int:
        """The interval's length in seconds."""
        return INTERVAL_SECONDS[self]


INTERVAL_SECONDS: dict[Interval, int] = {
    Interval.SECONDS_30: 30,
    Interval.MINUTES_30: 30 * 60,
    Interval.HOUR_1: 60 * 60,
    Interval.DAY_1: 24 * 60 * 60,
    Interval.DAYS_7: 7 * 24 * 60 * 60,
}
