"""The payloads TikHub puts in `data`, one builder per response shape.

Each path has its own shape, as on the real API: the flat v1 profile, the GraphQL-style v3
profile, the `data.data.metrics` v2 post, the `items[0]` post, and the feeds of a creator's posts
(`items` in v1, `data.items` in v2). Ids are JSON strings because they can exceed 2**53; counts
are integers (or null where the real API has been seen to send it).
"""

from typing import Any

from services.sandbox.drift import PostMetrics, ProfileMetrics
from services.sandbox.feed import FeedPage, FeedPost
from services.sandbox.rules import MEDIA_TYPES, PostKind, ProfileRule

# What TikHub has been seen to put in `data` (under an HTTP 200) for a username that does not exist.
USER_NOT_FOUND: dict[str, Any] = {"code": 400, "data": None}

_PRODUCT_TYPES = {
    PostKind.IMAGE: "feed",
    PostKind.VIDEO: "clips",
    PostKind.CAROUSEL: "carousel_container",
}


def _picture_url(user_id: int) -> str:
    return f"https://sandbox.tikhub.invalid/profile_pic/{user_id}.jpg"


def flat_profile(username: str, metrics: ProfileMetrics, rule: ProfileRule) -> dict[str, Any]:
    """The flat profile of v1 `fetch_user_info_by_username_v3` and the demo path."""
    user_id = str(metrics.user_id)
    return {
        "pk": user_id,
        "pk_id": user_id,
        "id": user_id,
        "username": username,
        "full_name": metrics.full_name,
        "biography": metrics.biography,
        "is_private": rule is ProfileRule.PRIVATE,
        "is_verified": metrics.is_verified,
        "is_business": False,
        "follower_count": metrics.follower_count,
        "following_count": metrics.following_count,
        "media_count": None if rule is ProfileRule.NO_MEDIA_COUNT else metrics.media_count,
        "profile_pic_url": _picture_url(metrics.user_id),
        "external_url": None,
    }


def graph_profile(username: str, metrics: ProfileMetrics, rule: ProfileRule) -> dict[str, Any]:
    """The GraphQL-style profile of v3 `get_user_profile` (counts under `edge_*`)."""
    return {
        "user": {
            "id": str(metrics.user_id),
            "username": username,
            "full_name": metrics.full_name,
            "biography": metrics.biography,
            "is_private": rule is ProfileRule.PRIVATE,
            "is_verified": metrics.is_verified,
            "edge_followed_by": {"count": metrics.follower_count},
            "edge_follow": {"count": metrics.following_count},
            "edge_owner_to_timeline_media": {"count": metrics.media_count, "edges": []},
            "profile_pic_url": _picture_url(metrics.user_id),
        }
    }


def metrics_post(shortcode: str, metrics: PostMetrics, kind: PostKind) -> dict[str, Any]:
    """The v2 `fetch_post_info` post: counts under `data.metrics`, null plays for non-videos."""
    media_id = str(metrics.media_id)
    return {
        "data": {
            "id": media_id,
            "pk": media_id,
            "code": shortcode,
            "is_video": kind is PostKind.VIDEO,
            "media_type": MEDIA_TYPES[kind],
            "taken_at": metrics.published_at,
            "caption": {"text": metrics.caption},
            "owner": {"id": str(metrics.owner_id), "username": metrics.owner_username},
            "metrics": {
                "like_count": metrics.like_count,
                "comment_count": metrics.comment_count,
                "play_count": metrics.play_count if kind is PostKind.VIDEO else None,
            },
        }
    }


def items_post(
    shortcode: str, metrics: PostMetrics, kind: PostKind, *, play_key: str
) -> dict[str, Any]:
    """The `items[0]` post; videos carry their plays under `play_key`, other posts have none."""
    media_id = str(metrics.media_id)
    item: dict[str, Any] = {
        "pk": media_id,
        "id": media_id,
        "code": shortcode,
        "media_type": MEDIA_TYPES[kind],
        "product_type": _PRODUCT_TYPES[kind],
        "taken_at": metrics.published_at,
        "like_count": metrics.like_count,
        "comment_count": metrics.comment_count,
        "caption": {"text": metrics.caption},
        "user": {"pk": str(metrics.owner_id), "username": metrics.owner_username},
    }
    if kind is PostKind.VIDEO:
        item[play_key] = metrics.play_count
    return {"items": [item], "num_results": 1, "more_available": False, "status": "ok"}


def feed_item(post: FeedPost) -> dict[str, Any]:
    """One post of a user-posts answer, as Instagram's feed lists it."""
    metrics = post.metrics
    media_id = str(metrics.media_id)
    video = post.kind is PostKind.VIDEO
    item: dict[str, Any] = {
        "pk": media_id,
        "id": f"{media_id}_{metrics.owner_id}",
        "code": post.shortcode,
        "taken_at": metrics.published_at,
        "media_type": MEDIA_TYPES[post.kind],
        "product_type": _PRODUCT_TYPES[post.kind],
        "is_pinned": post.is_pinned,
        "like_and_view_counts_disabled": post.likes_hidden,
        "like_count": None if post.likes_hidden else metrics.like_count,
        "comment_count": metrics.comment_count,
        # Feeds have been seen to give photos and carousels a play count of 0: not a count.
        "play_count": metrics.play_count if video else 0,
        "caption": {"text": metrics.caption},
        "user": {"pk": str(metrics.owner_id), "username": metrics.owner_username},
    }
    if video:
        item["ig_play_count"] = metrics.play_count
    if post.is_pinned:
        item["timeline_pinned_user_ids"] = [str(metrics.owner_id)]
    return item


def _feed_user(username: str, user_id: int) -> dict[str, Any]:
    return {"pk": str(user_id), "username": username}


def items_feed(username: str, user_id: int, page: FeedPage) -> dict[str, Any]:
    """v1 `fetch_user_posts`: the posts under `data.items`, paged by `next_max_id`."""
    return {
        "items": [feed_item(post) for post in page.posts],
        "num_results": len(page.posts),
        "more_available": page.next_cursor is not None,
        "next_max_id": page.next_cursor,
        "user": _feed_user(username, user_id),
        "status": "ok",
    }


def nested_feed(
    username: str, user_id: int, page: FeedPage, *, wrap_media: bool = False
) -> dict[str, Any]:
    """v2 `fetch_user_posts` and `fetch_user_reels`: the posts under `data.data.items`, paged
    by `pagination_token`; the reels feed wraps each post as `{"media": …}`."""
    items = [feed_item(post) for post in page.posts]
    return {
        "data": {
            "items": [{"media": item} for item in items] if wrap_media else items,
            "count": len(items),
            "user": _feed_user(username, user_id),
        },
        "pagination_token": page.next_cursor,
    }
