"""Deterministic metrics: what a profile or a post shows at any instant.

Every number is a pure function of (name, unix time, epoch) seeded by a stable hash (BLAKE2b),
so two sandbox processes, or two calls at the same instant, give the same answer. Python's
built-in hash() is salted per process and is never used.

Profiles: counts change at most once a minute, so every call within a minute sees the same
numbers. Followers = a per-name base, plus steady growth since the epoch, plus a slow wave whose
downslope is steeper than the growth (so a profile sometimes loses followers for a few days),
plus a little noise. Following and post counts only ever step up, rarely.

Posts: each shortcode was "published" at a fixed instant in the day before the epoch. Likes,
comments and plays rise fast in the first hours (an exponential approach) and then flatten into
a slow logarithmic tail, so every increment is smaller than the one before. Plays outnumber
likes several times over and reach their plateau sooner.
"""

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache

from services.sandbox.rules import ProfileRule, profile_rule

HOUR = 3_600.0
DAY = 86_400.0
# Profile counts may differ between two calls a minute apart, never within the same minute.
PROFILE_REFRESH_SECONDS = 60
# How long after publication the slow tail of engagement keeps its pace.
TAIL_SECONDS = 7 * DAY
_UNIT_SCALE = float(1 << 64)
# The posts of a `fewposts…` creator.
FEW_POSTS = 5

_BIOGRAPHIES = (
    "Coffee, cameras and long walks.",
    "Official account. Links below.",
    "Travel | Food | Stories from the road",
    "Building things in public.",
    "Photographer based somewhere sunny.",
    "Daily fitness tips and honest reviews.",
    "",
)
_CAPTIONS = (
    "Golden hour never gets old.",
    "New drop is live, link in bio.",
    "Behind the scenes of this week's shoot.",
    "Which one is your favourite? 1 or 2?",
    "Thank you for 1 year of this journey!",
    "",
)


def stable_unit(*parts: str) -> float:
    """A number in [0, 1) that depends only on `parts`, identical in every process."""
    return stable_int(*parts) / _UNIT_SCALE


def stable_int(*parts: str) -> int:
    """A 64-bit integer that depends only on `parts`, identical in every process."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _log_uniform(unit: float, low: float, high: float) -> float:
    # Audiences span orders of magnitude; a uniform draw would make nearly everyone huge.
    return low * math.pow(high / low, unit)


def _between(unit: float, low: float, high: float) -> float:
    return low + (high - low) * unit


def user_id_for(username: str) -> int:
    """The stable Instagram-style user id (pk) of a username."""
    if stable_unit(username, "id-era") < 0.5:
        # Older accounts have ids well inside a double's exact range...
        return 100_000_000 + stable_int(username, "id") % 70_000_000_000
    # ...newer ones exceed 2**53, which breaks clients that parse JSON numbers as doubles.
    return (1 << 53) + stable_int(username, "id") % (1 << 62)


@dataclass(frozen=True, slots=True)
class ProfileTraits:
    """The time-independent character of a profile."""

    user_id: int
    full_name: str
    biography: str
    base_followers: float
    growth_per_day: float
    wave_amplitude: float
    wave_period_days: float
    wave_phase: float
    noise_amplitude: float
    base_following: int
    following_every_days: float
    base_media: int
    media_every_days: float


@lru_cache(maxsize=65_536)
def profile_traits(username: str) -> ProfileTraits:
    """The fixed character of a username, drawn from its hash."""
    base = _log_uniform(stable_unit(username, "followers"), 100, 50_000_000)
    few = profile_rule(username) is ProfileRule.FEW_POSTS
    growth_per_day = base * _between(stable_unit(username, "growth"), 0.0002, 0.004)
    period_days = _between(stable_unit(username, "wave-period"), 3, 14)
    # The wave's steepest slope is 1.2-2x the growth, so followers fall for part of each cycle.
    steepness = _between(stable_unit(username, "wave-steepness"), 1.2, 2.0)
    return ProfileTraits(
        user_id=user_id_for(username),
        full_name=username.replace("_", " ").replace(".", " ").strip().title(),
        biography=_BIOGRAPHIES[stable_int(username, "bio") % len(_BIOGRAPHIES)],
        base_followers=base,
        growth_per_day=growth_per_day,
        wave_amplitude=growth_per_day * steepness * period_days / (2 * math.pi),
        wave_period_days=period_days,
        wave_phase=2 * math.pi * stable_unit(username, "wave-phase"),
        noise_amplitude=1 + base * 0.00002,
        base_following=int(_log_uniform(stable_unit(username, "following"), 20, 3_000)),
        following_every_days=_between(stable_unit(username, "following-every"), 2, 30),
        base_media=FEW_POSTS
        if few
        else int(_log_uniform(stable_unit(username, "media"), 1, 3_000)),
        # A creator with few posts posted them all before the epoch, and no more since.
        media_every_days=math.inf
        if few
        else _between(stable_unit(username, "media-every"), 0.5, 10),
    )


@dataclass(frozen=True, slots=True)
class ProfileMetrics:
    """What a profile shows at one instant."""

    user_id: int
    full_name: str
    biography: str
    is_verified: bool
    follower_count: int
    following_count: int
    media_count: int


def profile_at(username: str, at: float, *, epoch: float) -> ProfileMetrics:
    """The profile of `username` as seen at unix time `at`."""
    traits = profile_traits(username)
    minute = math.floor(at / PROFILE_REFRESH_SECONDS)
    days = (minute * PROFILE_REFRESH_SECONDS - epoch) / DAY
    trend = traits.base_followers + traits.growth_per_day * days
    wave = traits.wave_amplitude * math.sin(
        2 * math.pi * days / traits.wave_period_days + traits.wave_phase
    )
    noise = (2 * stable_unit(username, "noise", str(minute)) - 1) * traits.noise_amplitude
    following = traits.base_following + math.floor(days / traits.following_every_days)
    media = traits.base_media + math.floor(days / traits.media_every_days)
    return ProfileMetrics(
        user_id=traits.user_id,
        full_name=traits.full_name,
        biography=traits.biography,
        is_verified=traits.base_followers >= 1_000_000,
        follower_count=max(0, round(trend + wave + noise)),
        following_count=max(0, following),
        media_count=max(0, media),
    )


@dataclass(frozen=True, slots=True)
class PostTraits:
    """The time-independent character of a post."""

    media_id: int
    owner_username: str
    caption: str
    published_before_epoch: float
    like_scale: float
    rise_seconds: float
    tail_share: float
    comment_share: float
    play_multiplier: float


@lru_cache(maxsize=65_536)
def post_traits(shortcode: str) -> PostTraits:
    """The fixed character of a shortcode, drawn from its hash."""
    # Media ids are ~3e18 on Instagram today: always past 2**53, still a signed BIGINT.
    media_id = 3_000_000_000_000_000_000 + stable_int(shortcode, "id") % 10**18
    return PostTraits(
        media_id=media_id,
        owner_username=f"creator.{stable_int(shortcode, 'owner') % 100_000:05d}",
        caption=_CAPTIONS[stable_int(shortcode, "caption") % len(_CAPTIONS)],
        published_before_epoch=DAY * stable_unit(shortcode, "published"),
        like_scale=_log_uniform(stable_unit(shortcode, "likes"), 20, 500_000),
        rise_seconds=_between(stable_unit(shortcode, "rise"), 2 * HOUR, 18 * HOUR),
        tail_share=_between(stable_unit(shortcode, "tail"), 0.03, 0.15),
        comment_share=_between(stable_unit(shortcode, "comments"), 0.005, 0.05),
        play_multiplier=_between(stable_unit(shortcode, "plays"), 4, 30),
    )


@dataclass(frozen=True, slots=True)
class PostMetrics:
    """What a post shows at one instant; `play_count` only means something for videos."""

    media_id: int
    owner_username: str
    owner_id: int
    caption: str
    published_at: int
    like_count: int
    comment_count: int
    play_count: int


def _engagement(scale: float, age: float, rise_seconds: float, tail_share: float) -> int:
    # A fast exponential approach to `scale`, then a logarithmic tail that never quite stops.
    early = scale * (1 - math.exp(-age / rise_seconds))
    tail = scale * tail_share * math.log1p(age / TAIL_SECONDS)
    return int(early + tail)


@dataclass(frozen=True, slots=True)
class PostOrigin:
    """Who published a post of a creator's feed, and when (instead of what its hash says)."""

    owner_username: str
    published_at: int


def post_at(
    shortcode: str, at: float, *, epoch: float, origin: PostOrigin | None = None
) -> PostMetrics:
    """The post `shortcode` as seen at unix time `at` (all zeros before it is published).

    A post some feed lists has that feed's `origin`; any other was published by a made-up
    owner at an instant in the day before the epoch.
    """
    traits = post_traits(shortcode)
    if origin is None:
        origin = PostOrigin(traits.owner_username, int(epoch - traits.published_before_epoch))
    published_at = origin.published_at
    age = max(0.0, at - published_at)
    likes = _engagement(traits.like_scale, age, traits.rise_seconds, traits.tail_share)
    comments = _engagement(
        traits.like_scale * traits.comment_share,
        age,
        traits.rise_seconds * 1.5,
        traits.tail_share,
    )
    # A shorter rise keeps plays >= play_multiplier * likes at every age.
    plays = _engagement(
        traits.like_scale * traits.play_multiplier,
        age,
        traits.rise_seconds * 0.7,
        traits.tail_share,
    )
    return PostMetrics(
        media_id=traits.media_id,
        owner_username=origin.owner_username,
        owner_id=user_id_for(origin.owner_username),
        caption=traits.caption,
        published_at=published_at,
        like_count=likes,
        comment_count=comments,
        play_count=plays,
    )
