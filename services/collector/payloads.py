"""Tolerant parsers of TikHub's `data` payloads: one per target kind, for every shape seen.

TikHub's endpoint versions put the same numbers in different places (flat, `user.edge_*`,
`data.data.metrics`, `items[0]`, GraphQL `edge_media_*`). Each parser looks in all of them and
returns None for a number it cannot find: a missing count is unknown, never 0.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any, Self, TypeVar

from shared.models import MediaType

# Where a profile's fields live, as paths from the payload's root, most specific first.
PROFILE_ROOTS: tuple[tuple[str | int, ...], ...] = (
    ("user",),
    ("data", "user"),
    ("graphql", "user"),
    ("data",),
    (),
)
POST_ROOTS: tuple[tuple[str | int, ...], ...] = (
    ("items", 0),
    ("data", "items", 0),
    ("data",),
    ("shortcode_media",),
    ("graphql", "shortcode_media"),
    ("xdt_shortcode_media",),
    (),
)

FOLLOWERS = (("follower_count",), ("edge_followed_by", "count"), ("followers_count",))
FOLLOWING = (("following_count",), ("edge_follow", "count"), ("follows_count",))
POSTS = (("media_count",), ("edge_owner_to_timeline_media", "count"), ("posts_count",))
LIKES = (
    ("metrics", "like_count"),
    ("like_count",),
    ("edge_media_preview_like", "count"),
    ("edge_liked_by", "count"),
)
COMMENTS = (
    ("metrics", "comment_count"),
    ("comment_count",),
    ("edge_media_to_comment", "count"),
    ("edge_media_preview_comment", "count"),
)
PLAYS = (
    ("metrics", "play_count"),
    ("play_count",),
    ("ig_play_count",),
    ("metrics", "ig_play_count"),
    ("view_count",),
    ("video_play_count",),
    ("video_view_count",),
)
OWNER_USERNAME = (("owner", "username"), ("user", "username"))
PUBLISHED_AT = (("taken_at",), ("taken_at_timestamp",))
CAPTION = (("caption", "text"), ("edge_media_to_caption", "edges", 0, "node", "text"))
# Instagram's media_type codes, and the product types that name a kind where no code is sent.
MEDIA_TYPES = {1: MediaType.IMAGE, 2: MediaType.VIDEO, 8: MediaType.CAROUSEL}
PRODUCT_TYPES = {
    "clips": MediaType.VIDEO,
    "igtv": MediaType.VIDEO,
    "carousel_container": MediaType.CAROUSEL,
}
# What the columns hold (BIGINT counts, BIGINT UNSIGNED ids); a larger number is garbage, and
# storing it would fail the write.
MAX_COUNT = 2**63 - 1
MAX_INSTAGRAM_ID = 2**64 - 1
# 9999-12-31, the end of DATETIME's range.
MAX_UNIX_TIME = 253_402_300_799

SnapshotT = TypeVar("SnapshotT", bound="Snapshot")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What one or more payloads say; merging keeps the first known value of each field."""

    @property
    def complete(self) -> bool:
        """Whether every count this target can have is known."""
        raise NotImplementedError

    @property
    def has_counts(self) -> bool:
        """Whether any count is known at all."""
        raise NotImplementedError

    def merge(self, other: Self) -> Self:
        """This snapshot with its unknown (None) fields taken from `other`."""
        missing = {
            field.name: getattr(other, field.name)
            for field in fields(self)
            if getattr(self, field.name) is None
        }
        return replace(self, **missing)


@dataclass(frozen=True, slots=True)
class ProfileSnapshot(Snapshot):
    """A profile's numbers as TikHub reported them; None where a payload did not say."""

    user_id: int | None = None
    username: str | None = None
    bio: str | None = None
    follower_count: int | None = None
    following_count: int | None = None
    post_count: int | None = None
    is_private: bool | None = None

    @property
    def complete(self) -> bool:
        """Whether every count is known (otherwise another endpoint may fill the gaps)."""
        return None not in (self.follower_count, self.following_count, self.post_count)

    @property
    def has_counts(self) -> bool:
        """Whether any count is known at all."""
        return any(
            c is not None for c in (self.follower_count, self.following_count, self.post_count)
        )


@dataclass(frozen=True, slots=True)
class PostSnapshot(Snapshot):
    """A post's numbers as TikHub reported them; `play_count` is None for non-videos."""

    post_id: str | None = None
    code: str | None = None
    like_count: int | None = None
    comment_count: int | None = None
    play_count: int | None = None
    is_video: bool | None = None
    owner_username: str | None = None
    published_at: datetime | None = None
    media_type: MediaType | None = None
    caption: str | None = None

    @property
    def complete(self) -> bool:
        """Whether every count this post can have is known."""
        if self.like_count is None or self.comment_count is None:
            return False
        return not (self.is_video and self.play_count is None)

    @property
    def has_counts(self) -> bool:
        """Whether any count is known at all."""
        return any(c is not None for c in (self.like_count, self.comment_count, self.play_count))


def parse_profile(payload: Any) -> ProfileSnapshot:
    """Read a profile from any of the profile shapes TikHub returns."""
    node = _first_node(payload, PROFILE_ROOTS, looks_like=_looks_like_profile)
    return ProfileSnapshot(
        user_id=_instagram_id(_first(node, (("pk",), ("id",), ("pk_id",)))),
        username=_text(_first(node, (("username",),))),
        bio=_text(_first(node, (("biography",), ("bio",)))),
        follower_count=_count(_first(node, FOLLOWERS)),
        following_count=_count(_first(node, FOLLOWING)),
        post_count=_count(_first(node, POSTS)),
        is_private=_flag(_first(node, (("is_private",),))),
    )


def parse_post(payload: Any) -> PostSnapshot:
    """Read a post from any of the post shapes TikHub returns."""
    node = _first_node(payload, POST_ROOTS, looks_like=_looks_like_post)
    media_type = _media_type(node)
    is_video = _flag(_first(node, (("is_video",),)))
    if is_video is None and media_type is not None:
        is_video = media_type is MediaType.VIDEO
    return PostSnapshot(
        post_id=_post_id(_first(node, (("pk",), ("id",)))),
        code=_text(_first(node, (("code",), ("shortcode",)))),
        like_count=_count(_first(node, LIKES)),
        comment_count=_count(_first(node, COMMENTS)),
        play_count=_count(_first(node, PLAYS)),
        is_video=is_video,
        owner_username=_text(_first(node, OWNER_USERNAME)),
        published_at=_unix_time(_first(node, PUBLISHED_AT)),
        media_type=media_type,
        caption=_text(_first(node, CAPTION)),
    )


def merge_profiles(payloads: Iterable[Any]) -> ProfileSnapshot:
    """One profile from several payloads, earlier payloads winning where both know a field."""
    return _merged(ProfileSnapshot(), (parse_profile(p) for p in payloads))


def merge_posts(payloads: Iterable[Any]) -> PostSnapshot:
    """One post from several payloads, earlier payloads winning where both know a field."""
    return _merged(PostSnapshot(), (parse_post(p) for p in payloads))


def _merged(empty: SnapshotT, snapshots: Iterable[SnapshotT]) -> SnapshotT:
    merged = empty
    for snapshot in snapshots:
        merged = merged.merge(snapshot)
    return merged


def _dig(node: Any, path: Sequence[str | int]) -> Any:
    for step in path:
        if isinstance(step, int):
            if not isinstance(node, list) or len(node) <= step:
                return None
        elif not isinstance(node, dict):
            return None
        node = node[step] if isinstance(step, int) else node.get(step)
    return node


def _first(node: Any, paths: Iterable[Sequence[str | int]]) -> Any:
    for path in paths:
        value = _dig(node, path)
        if value is not None:
            return value
    return None


def _first_node(
    payload: Any,
    roots: Iterable[Sequence[str | int]],
    *,
    looks_like: Callable[[dict[str, Any]], bool],
) -> Any:
    for root in roots:
        node = _dig(payload, root)
        if isinstance(node, dict) and looks_like(node):
            return node
    return {}


def _looks_like_profile(node: dict[str, Any]) -> bool:
    return any(_first(node, paths) is not None for paths in (FOLLOWERS, FOLLOWING, POSTS)) or (
        "username" in node and ("pk" in node or "id" in node)
    )


def _looks_like_post(node: dict[str, Any]) -> bool:
    return any(_first(node, paths) is not None for paths in (LIKES, COMMENTS, PLAYS)) or (
        "code" in node or "shortcode" in node
    )


def _count(value: Any) -> int | None:
    # bool is an int in Python; a true/false is never a count.
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    return value if isinstance(value, int) and 0 <= value <= MAX_COUNT else None


def _instagram_id(value: Any) -> int | None:
    # Ids arrive as strings (they can exceed 2**53, beyond what JSON numbers carry exactly in
    # many clients) or as ints; GraphQL media ids look like "<media>_<owner>".
    if isinstance(value, bool):
        return None
    text = str(value).strip() if isinstance(value, int | str) else ""
    text = text.split("_", 1)[0]
    if not text.isdigit() or len(text) > 20:
        return None
    number = int(text)
    return number if 0 < number <= MAX_INSTAGRAM_ID else None


def _post_id(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    text = str(value).strip()
    return text[:50] or None


def _media_type(node: Any) -> MediaType | None:
    code = _first(node, (("media_type",),))
    if isinstance(code, int) and not isinstance(code, bool) and code in MEDIA_TYPES:
        return MEDIA_TYPES[code]
    product = _first(node, (("product_type",),))
    return PRODUCT_TYPES.get(product) if isinstance(product, str) else None


def _unix_time(value: Any) -> datetime | None:
    # Seconds since the epoch; a number MySQL's DATETIME cannot hold is garbage.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not 0 < value < MAX_UNIX_TIME:
        return None
    return datetime.fromtimestamp(value, UTC)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


# Where a user-posts answer keeps its list: `items` (v1), `data.items` (v2, and reels).
USER_POSTS_ROOTS: tuple[tuple[str | int, ...], ...] = (("items",), ("data", "items"))


@dataclass(frozen=True, slots=True)
class FeedPost:
    """One post of a creator's feed as a user-posts answer lists it."""

    post: PostSnapshot
    is_pinned: bool


def parse_user_posts(payload: Any) -> list[FeedPost] | None:
    """The posts of a user-posts answer, in feed order; None when it holds no list of posts.

    Items without a shortcode are dropped. A non-video's play count is dropped too: Instagram
    counts plays only for videos, and feeds have been seen to send a false 0 for photos.
    """
    items = next(
        (node for root in USER_POSTS_ROOTS if isinstance(node := _dig(payload, root), list)),
        None,
    )
    if items is None:
        return None
    posts = []
    for item in items:
        # The reels feed wraps each post as {"media": {...}}.
        node = item.get("media", item) if isinstance(item, dict) else None
        if not isinstance(node, dict):
            continue
        post = parse_post(node)
        if post.code is None:
            continue
        if not post.is_video:
            post = replace(post, play_count=None)
        if node.get("like_and_view_counts_disabled") is True:
            # Hidden likes: whatever number stands there is not the likes.
            post = replace(post, like_count=None)
        posts.append(FeedPost(post, is_pinned=_flag(node.get("is_pinned")) is True))
    return posts
