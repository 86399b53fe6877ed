"""The rows one sample of a creator's recent posts stores (tables `post_sample` and its items)."""

from collections.abc import Sequence
from datetime import datetime

from services.collector.payloads import FeedPost
from shared.repositories.post_samples import SampleRecord
from shared.repositories.tasks import MAX_ERROR_LENGTH


def feed_record(
    task_id: str,
    slot: datetime,
    now: datetime,
    follower_count: int | None,
    posts: Sequence[FeedPost],
) -> SampleRecord:
    """A sample that read the feed: one snapshot per post, in feed order.

    A post listed twice (a pinned post some feeds also show in its place) is kept once.
    """
    seen: set[str] = set()
    items: list[dict[str, object]] = []
    for feed_post in posts:
        post = feed_post.post
        assert post.code is not None, "parse_user_posts keeps only posts with a shortcode"
        if post.code in seen:
            continue
        seen.add(post.code)
        items.append(
            {
                "task_id": task_id,
                "scheduled_for": slot,
                "position": len(items),
                "post_code": post.code,
                "post_id": post.post_id,
                "published_at": post.published_at,
                "media_type": post.media_type,
                "is_pinned": feed_post.is_pinned,
                "like_count": post.like_count,
                "comment_count": post.comment_count,
                "play_count": post.play_count,
            }
        )
    return SampleRecord(_sample(task_id, slot, now, follower_count, error=None), items)


def failed_record(
    task_id: str, slot: datetime, now: datetime, follower_count: int | None, *, error: str
) -> SampleRecord:
    """A sample that could not read the feed: it stands for the hour, with no posts."""
    return SampleRecord(_sample(task_id, slot, now, follower_count, error=error), [])


def _sample(
    task_id: str, slot: datetime, now: datetime, follower_count: int | None, *, error: str | None
) -> dict[str, object]:
    return {
        "task_id": task_id,
        "scheduled_for": slot,
        "sampled_at": now,
        "follower_count": follower_count,
        "error": None if error is None else error[:MAX_ERROR_LENGTH],
    }
