"""The tolerant parsers: a number they cannot read is unknown (None), never 0 or garbage."""

from datetime import UTC, datetime
from typing import Any

import pytest

from services.collector.payloads import merge_profiles, parse_post, parse_profile
from services.sandbox import shapes
from services.sandbox.drift import PostMetrics
from services.sandbox.rules import PostKind
from shared.models import POST_DETAILS
from tests.collector.support import (
    BIG_USER_ID,
    edge_profile,
    flat_profile,
    graphql_post,
    items_post,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1_204, 1_204),
        ("1204", 1_204),
        (1204.0, 1_204),
        (0, 0),
        (None, None),
        (True, None),
        (-3, None),
        ("1.2k", None),
        (12.5, None),
        (2**70, None),
        ({"count": 5}, None),
    ],
)
def test_a_count_is_read_only_when_it_is_a_plain_number(raw: Any, expected: int | None) -> None:
    assert parse_profile(flat_profile(follower_count=raw)).follower_count == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (BIG_USER_ID, int(BIG_USER_ID)),
        (int(BIG_USER_ID), int(BIG_USER_ID)),
        ("3195180312546139481_25025320", 3195180312546139481),
        ("not-an-id", None),
        (str(2**64), None),
    ],
)
def test_instagram_ids_are_read_exactly(raw: Any, expected: int | None) -> None:
    assert parse_profile(flat_profile(pk=raw, id=raw)).user_id == expected


def test_an_unknown_shape_gives_no_numbers_rather_than_zeros() -> None:
    profile = parse_profile({"something": {"else": 1}})
    post = parse_post({"items": []})
    assert (profile.follower_count, profile.following_count, profile.post_count) == (None,) * 3
    assert (post.like_count, post.comment_count, post.play_count) == (None,) * 3
    assert not profile.has_counts
    assert not post.has_counts


def test_merging_keeps_the_first_answer_and_fills_only_its_gaps() -> None:
    merged = merge_profiles([flat_profile(media_count=None, biography=None), edge_profile()])
    assert (merged.follower_count, merged.post_count) == (697_000_123, 8_124)
    assert merged.bio == "Discover what's new on Instagram"


SANDBOX_POST = PostMetrics(
    media_id=3_195_180_312_546_139_481,
    owner_username="creator.00042",
    owner_id=42,
    caption="Golden hour over the bay",
    published_at=1_790_000_000,
    like_count=1_204,
    comment_count=33,
    play_count=90_210,
)
# 1_790_000_000 s after the epoch.
PUBLISHED = datetime(2026, 9, 21, 14, 13, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "media_type"),
    [(PostKind.IMAGE, "image"), (PostKind.VIDEO, "video"), (PostKind.CAROUSEL, "carousel")],
)
@pytest.mark.parametrize(
    "shape",
    [
        lambda kind: shapes.metrics_post("CxYQJO8xuC6", SANDBOX_POST, kind),
        lambda kind: shapes.items_post("CxYQJO8xuC6", SANDBOX_POST, kind, play_key="play_count"),
    ],
    ids=["metrics", "items"],
)
def test_the_sandbox_post_shapes_give_the_posts_details(
    shape: Any, kind: PostKind, media_type: str
) -> None:
    post = parse_post(shape(kind))
    details = {name: getattr(post, name) for name in POST_DETAILS}
    assert details == {
        "owner_username": "creator.00042",
        "published_at": PUBLISHED,
        "media_type": media_type,
        "caption": "Golden hour over the bay",
    }
    assert post.is_video is (kind is PostKind.VIDEO)


def test_details_in_the_other_shapes_and_when_they_are_missing() -> None:
    reel = parse_post(items_post(product_type="clips", taken_at=1_790_000_000.0, caption=None))
    assert (reel.media_type, reel.published_at, reel.caption) == ("video", PUBLISHED, None)
    graphql = parse_post(
        graphql_post()
        | {
            "taken_at_timestamp": 1_790_000_000,
            "owner": {"id": "42", "username": "natgeo"},
            "edge_media_to_caption": {"edges": [{"node": {"text": "Into the wild"}}]},
        }
    )
    assert (graphql.owner_username, graphql.published_at, graphql.caption) == (
        "natgeo",
        PUBLISHED,
        "Into the wild",
    )
    # A code no one knows, a time past DATETIME's range, a caption that is not text.
    odd = parse_post(items_post(media_type=7, taken_at=10**12, caption={"text": 5}))
    assert (odd.media_type, odd.published_at, odd.caption) == (None, None, None)
