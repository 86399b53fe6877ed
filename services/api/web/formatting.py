"""How the dashboard writes numbers, changes, times and intervals."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.growth import Metric
from shared.intervals import INTERVAL_SECONDS
from shared.models import AlertCondition

INTERVAL_NAMES = {seconds: interval.value for interval, seconds in INTERVAL_SECONDS.items()}
MISSING = "\u2014"  # an em dash
# A typographic minus sign: as wide as the plus, so signed columns line up.
MINUS = "\u2212"


def count(value: int | float | None) -> str:
    """1234567 → '1,234,567'; a missing number is a dash, never 0."""
    if value is None:
        return MISSING
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def signed(value: int | float | None) -> str:
    """A change, with its sign: '+1,204', MINUS + '3', '0'."""
    if value is None:
        return MISSING
    text = count(abs(value))
    return f"+{text}" if value > 0 else f"{MINUS}{text}" if value < 0 else text


def percent(value: float | None) -> str:
    """A percentage to two decimals, with its sign."""
    if value is None:
        return MISSING
    sign = "+" if value > 0 else MINUS if value < 0 else ""
    return f"{sign}{abs(value):.2f}%"


def rate(value: float | None) -> str:
    """A percentage without a sign (engagement)."""
    return MISSING if value is None else f"{value:.2f}%"


def utc(moment: datetime | None) -> str:
    """A time as the API writes it, to the minute."""
    return MISSING if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def interval(seconds: int) -> str:
    """3600 → '1h', as the API's interval names say it."""
    return INTERVAL_NAMES.get(seconds, f"{seconds}s")


def trend(value: int | float | None) -> str:
    """The CSS class of a change: up, down or flat."""
    if not value:
        return "flat"
    return "up" if value > 0 else "down"


# ---- Alerts, webhooks and usage --------------------------------------------------------

METRIC_NAMES = {
    Metric.FOLLOWER_COUNT: "Followers",
    Metric.FOLLOWING_COUNT: "Following",
    Metric.POST_COUNT: "Posts",
    Metric.LIKE_COUNT: "Likes",
    Metric.COMMENT_COUNT: "Comments",
    Metric.PLAY_COUNT: "Plays",
}
CONDITION_NAMES = {
    AlertCondition.ABOVE: "is above",
    AlertCondition.BELOW: "is below",
    AlertCondition.CHANGE_ABOVE: "changes by more than",
    AlertCondition.CHANGE_BELOW: "changes by less than",
    AlertCondition.CHANGE_PCT_ABOVE: "changes by more than (%)",
    AlertCondition.CHANGE_PCT_BELOW: "changes by less than (%)",
}


def rule(metric: str, condition: str, threshold: float, window: str | None) -> str:
    """An alert's rule as a sentence: 'Followers changes by more than +500 in 1d'."""
    name = CONDITION_NAMES[AlertCondition(condition)]
    subject = METRIC_NAMES[Metric(metric)]
    if window is None:
        return f"{subject} {name} {count(threshold)}"
    amount = f"{signed(threshold)}%" if name.endswith("(%)") else signed(threshold)
    return f"{subject} {name.removesuffix(' (%)')} {amount} in {window}"


def usd(value: float | None) -> str:
    """Dollars: cents from a dollar up ('$259.20'), fractions of a cent below ('$0.003')."""
    if value is None:
        return MISSING
    if abs(value) >= 1 or value == 0:
        return f"${value:,.2f}"
    digits = f"{value:.6f}".rstrip("0")
    return "$" + (digits if len(digits.partition(".")[2]) >= 2 else f"{value:.2f}")


def moment(value: datetime | None) -> str:
    """A time to the second, for logs where seconds tell attempts apart."""
    return MISSING if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


FILTERS: dict[str, Callable[..., Any]] = {
    "count": count,
    "signed": signed,
    "percent": percent,
    "rate": rate,
    "utc": utc,
    "interval": interval,
    "trend": trend,
    "usd": usd,
    "moment": moment,
}
