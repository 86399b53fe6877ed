"""A creator's feed: which posts a username has published, when, and in what order they are
listed, as a pure function of (username, unix time, epoch) like every other sandbox number.

Post `j` (0 = the oldest) of a creator whose profile had `base_media` posts at the epoch and
adds one every `media_every_days` was published at the epoch plus `(j - base_media + 1)` steps;
the posts from before the epoch are a day apart at most. So the feed always holds as many posts
as the profile's `media_count` says. Up to three posts from before the epoch are pinned: the
feed lists them first and not again in their place, as Instagram does. About one post in seven
hides its likes (every post of a `hiddenlikes…` creator); a private creator's feed is empty.
"""

import base64
import binascii
from dataclasses import dataclass

from services.sandbox.drift import (
    DAY,
    PostMetrics,
    PostOrigin,
    post_at,
    profile_at,
    profile_traits,
    stable_int,
    stable_unit,
)
from services.sandbox.rules import PostKind, ProfileRule, profile_rule

_CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
# Shortcode prefixes that make the single-post paths answer with the same kind (rules.py).
_CODE_PREFIXES = {PostKind.VIDEO: "D", PostKind.IMAGE: "img", PostKind.CAROUSEL: "carousel"}
HIDDEN_LIKES_SHARE = 0.15
MAX_PINNED = 3


@dataclass(frozen=True, slots=True)
class FeedPost:
    """One post of a creator's feed as seen at one instant."""

    ordinal: int
    shortcode: str
    kind: PostKind
    is_pinned: bool
    likes_hidden: bool
    origin: PostOrigin
    metrics: PostMetrics


@dataclass(frozen=True, slots=True)
class FeedPage:
    """One page of a feed and the cursor of the next one (None on the last page)."""

    posts: list[FeedPost]
    next_cursor: str | None


def post_kind_of(username: str, ordinal: int) -> PostKind:
    """Half the posts are reels, the rest photos and carousels."""
    unit = stable_unit(username, "post-kind", str(ordinal))
    if unit < 0.5:
        return PostKind.VIDEO
    return PostKind.IMAGE if unit < 0.8 else PostKind.CAROUSEL


def shortcode_of(username: str, ordinal: int) -> str:
    """The stable shortcode of a creator's post `ordinal`."""
    number = stable_int(username, "post-code", str(ordinal))
    letters = []
    for _ in range(10):
        number, digit = divmod(number, len(_CODE_ALPHABET))
        letters.append(_CODE_ALPHABET[digit])
    return _CODE_PREFIXES[post_kind_of(username, ordinal)] + "".join(letters)


def published_at(username: str, ordinal: int, *, epoch: float) -> int:
    """When post `ordinal` of `username` was published (unix seconds)."""
    traits = profile_traits(username)
    steps = ordinal - traits.base_media + 1
    if steps > 0:
        return int(epoch + steps * traits.media_every_days * DAY)
    return int(epoch + steps * min(traits.media_every_days, 1.0) * DAY)


def pinned_ordinals(username: str, media_count: int) -> list[int]:
    """The posts the creator pinned (0 to 3 of the last ones before the epoch, so they stay
    pinned for good), in the order the feed lists them."""
    wanted = stable_int(username, "pinned") % (MAX_PINNED + 1)
    newest = profile_traits(username).base_media - 1
    candidates = [newest - 3 * n for n in range(wanted)]
    return [ordinal for ordinal in candidates if 0 <= ordinal < media_count]


def feed_page(
    username: str,
    at: float,
    *,
    epoch: float,
    count: int,
    after: int | None = None,
    videos_only: bool = False,
) -> FeedPage:
    """The page of `count` posts below the one numbered `after` (None: the first page, pinned
    posts first); `videos_only` for the reels feed."""
    if profile_rule(username) is ProfileRule.PRIVATE:
        return FeedPage([], None)
    media_count = profile_at(username, at, epoch=epoch).media_count
    pinned = pinned_ordinals(username, media_count)

    def listed(ordinal: int) -> bool:
        return ordinal not in pinned and (
            not videos_only or post_kind_of(username, ordinal) is PostKind.VIDEO
        )

    ordinals = (
        []
        if after is not None
        else [o for o in pinned if not videos_only or post_kind_of(username, o) is PostKind.VIDEO]
    )
    ordinal = media_count - 1 if after is None else min(after, media_count) - 1
    while len(ordinals) < count and ordinal >= 0:
        if listed(ordinal):
            ordinals.append(ordinal)
        ordinal -= 1
    more = any(listed(o) for o in range(ordinal, -1, -1))
    posts = [_post(username, o, at, epoch=epoch, pinned=o in pinned) for o in ordinals]
    # The next page starts with the first post this one did not reach.
    return FeedPage(posts, encode_cursor(username, ordinal + 1) if more else None)


def _post(username: str, ordinal: int, at: float, *, epoch: float, pinned: bool) -> FeedPost:
    shortcode = shortcode_of(username, ordinal)
    origin = PostOrigin(username, published_at(username, ordinal, epoch=epoch))
    hidden = (
        profile_rule(username) is ProfileRule.HIDDEN_LIKES
        or stable_unit(username, "hidden-likes", str(ordinal)) < HIDDEN_LIKES_SHARE
    )
    return FeedPost(
        ordinal=ordinal,
        shortcode=shortcode,
        kind=post_kind_of(username, ordinal),
        is_pinned=pinned,
        likes_hidden=hidden,
        origin=origin,
        metrics=post_at(shortcode, at, epoch=epoch, origin=origin),
    )


def encode_cursor(username: str, ordinal: int) -> str:
    """An opaque cursor: the next page lists the posts of `username` older than `ordinal`."""
    return base64.urlsafe_b64encode(f"{username}:{ordinal}".encode()).decode()


def decode_cursor(username: str, cursor: str) -> int | None:
    """The post a cursor of `username`'s feed continues below; None for any other text."""
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    owner, _, ordinal = text.rpartition(":")
    if owner != username or not ordinal.isdigit():
        return None
    return int(ordinal)
