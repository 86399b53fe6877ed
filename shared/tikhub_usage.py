"""What TikHub calls cost: the endpoints each task kind calls, their prices, the UTC day a call
counts in, and the projections and capacity warnings built from task intervals."""

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from shared.models import TaskType

PROFILE_V1 = "/api/v1/instagram/v1/fetch_user_info_by_username_v3"
PROFILE_V3 = "/api/v1/instagram/v3/get_user_profile"
POST_BY_URL = "/api/v1/instagram/v1/fetch_post_by_url"
POST_V2 = "/api/v1/instagram/v2/fetch_post_info"
POST_V3 = "/api/v1/instagram/v3/get_post_info_by_code"
USER_POSTS_V1 = "/api/v1/instagram/v1/fetch_user_posts"
USER_POSTS_V2 = "/api/v1/instagram/v2/fetch_user_posts"
ACCOUNT = "/api/v1/tikhub/user/get_user_info"

# TikHub's published prices (USD per billed call): Instagram v1 0.001, v2/v3 0.002; the account
# endpoint is free. TIKHUB_PRICES_USD overrides them.
DEFAULT_PRICES_USD: dict[str, float] = {
    PROFILE_V1: 0.001,
    PROFILE_V3: 0.002,
    POST_BY_URL: 0.001,
    POST_V2: 0.002,
    POST_V3: 0.002,
    USER_POSTS_V1: 0.001,
    USER_POSTS_V2: 0.002,
    ACCOUNT: 0.0,
}
# The endpoint each kind calls first; fallback endpoints only run when it fails or lacks a
# count, so projections price one call of it per slot.
PRIMARY_ENDPOINT = {TaskType.INFLUENCER: PROFILE_V1, TaskType.POST: POST_BY_URL}
# A track_posts creator's posts are sampled with its profile, at most once an hour (and at most
# once a slot, as the slot's history row is written once): engagement moves slowly, and each
# sample is a billed call, by user id (v1) once the profile has told the id.
POST_SAMPLE_EVERY = timedelta(hours=1)
POST_SAMPLE_ENDPOINT = USER_POSTS_V1

SECONDS_PER_DAY = 86_400
SAMPLES_PER_DAY = SECONDS_PER_DAY / POST_SAMPLE_EVERY.total_seconds()
# Costs are kept in millionths of a dollar: integers add up exactly in Redis and MySQL.
MICRO_USD = 1_000_000


def key_fingerprint(api_key: str) -> str:
    """A short one-way fingerprint of a TikHub key: tells keys apart without storing one."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


def price_usd(prices: Mapping[str, float], endpoint: str) -> float:
    """The price of one billed call; an endpoint missing from the table costs the dearest
    listed price, so an unknown cost is never under-counted."""
    return prices.get(endpoint, max(prices.values(), default=0.0))


def price_micro_usd(prices: Mapping[str, float], endpoint: str) -> int:
    """The price of one billed call in millionths of a dollar."""
    return round(price_usd(prices, endpoint) * MICRO_USD)


def usd(micro_usd: int) -> float:
    """Millionths of a dollar as dollars."""
    return micro_usd / MICRO_USD


def utc_day(moment: datetime) -> date:
    """The UTC day a moment belongs to (the ledger's and the budget's day)."""
    return moment.astimezone(UTC).date()


def seconds_to_next_day(moment: datetime) -> float:
    """Seconds from `moment` to the next 00:00 UTC, when the daily budget starts afresh."""
    midnight = datetime.combine(utc_day(moment) + timedelta(days=1), datetime.min.time(), UTC)
    return (midnight - moment).total_seconds()


@dataclass(frozen=True, slots=True)
class Projection:
    """What tasks will spend per day at their intervals."""

    calls_per_day: float
    cost_usd_per_day: float

    @property
    def calls_per_second(self) -> float:
        """The calls per second the tasks need on average."""
        return self.calls_per_day / SECONDS_PER_DAY


@dataclass(frozen=True, slots=True)
class TaskGroup:
    """Tasks alike in what they call: kind, interval and whether their posts are sampled."""

    kind: TaskType
    interval_seconds: int
    track_posts: bool
    count: int = 1


def project(groups: Iterable[TaskGroup], prices: Mapping[str, float]) -> Projection:
    """Σ over the tasks of 86,400 / interval calls of the kind's first endpoint, plus, for a
    track_posts task, min(86,400 / interval, 24) samples of its posts (one a slot, at most one
    an hour)."""
    calls = cost = 0.0
    for group in groups:
        slots = SECONDS_PER_DAY / group.interval_seconds
        samples = min(slots, SAMPLES_PER_DAY) if group.track_posts else 0.0
        calls += group.count * (slots + samples)
        cost += group.count * (
            slots * price_usd(prices, PRIMARY_ENDPOINT[group.kind])
            + samples * price_usd(prices, POST_SAMPLE_ENDPOINT)
        )
    return Projection(calls_per_day=calls, cost_usd_per_day=cost)


def capacity_warnings(calls_per_second: float, capacity_per_second: float) -> list[str]:
    """Why the active tasks cannot all run on time, or [] when the key pool keeps up."""
    if calls_per_second <= capacity_per_second:
        return []
    if capacity_per_second <= 0:
        return [
            f"The active tasks need {calls_per_second:.2f} TikHub calls per second, but no "
            "TikHub key is usable: collections wait until a key is."
        ]
    over = (calls_per_second / capacity_per_second - 1) * 100
    return [
        f"The active tasks need {calls_per_second:.2f} TikHub calls per second, "
        f"{over:.0f} % more than the key pool's {capacity_per_second:g} per second: "
        "slots will run late or be given up. Lengthen intervals or add TikHub keys "
        "(TIKHUB_API_KEYS)."
    ]
