"""A creator's engagement (user_stats.engagement), from the newest sample of their posts."""

import statistics
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from shared.models import MediaType, PostSample, PostSampleItem

# HypeAuditor's convention: the newest 12 posts, pinned ones left out (they are old posts a
# creator chose to show first, not a sign of how the latest posts do).
RECENT_POSTS = 12
CADENCE_WINDOW = timedelta(days=28)
CADENCE_WEEKS = 4


def creator_engagement(sample: PostSample, items: Sequence[PostSampleItem]) -> dict[str, Any]:
    """The engagement body of one good sample and its posts in feed order."""
    recent = sorted(
        (item for item in items if not item.is_pinned),
        key=lambda item: (item.published_at is not None, item.published_at),
        reverse=True,
    )[:RECENT_POSTS]
    # Posts with hidden likes are left out, never read as 0 likes.
    engaged = [
        (item, item.like_count + item.comment_count)
        for item in recent
        if item.like_count is not None and item.comment_count is not None
    ]
    followers = sample.follower_count
    by_followers = [total / followers * 100 for _, total in engaged] if followers else []
    by_views = [
        total / item.play_count * 100
        for item, total in engaged
        if item.media_type is MediaType.VIDEO and item.play_count
    ]
    since = sample.sampled_at - CADENCE_WINDOW
    published = [i.published_at for i in items if i.published_at is not None]
    return {
        "sampled_at": sample.sampled_at,
        "posts_sampled": len(recent),
        "median_likes": _median(item.like_count for item in recent),
        "median_comments": _median(item.comment_count for item in recent),
        "engagement_rate": _median(by_followers),
        "engagement_rate_by_views": _median(by_views),
        "posts_per_week": sum(since < moment <= sample.sampled_at for moment in published)
        / CADENCE_WEEKS,
        "posts": [
            {
                "post_code": item.post_code,
                "published_at": item.published_at,
                "media_type": item.media_type,
                "like_count": item.like_count,
                "comment_count": item.comment_count,
                "play_count": item.play_count,
            }
            for item in recent
        ],
    }


def _median(values: Iterable[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None
