"""The tolerant parsers: a number they cannot read is unknown (None), never 0 or garbage."""

from typing import Any

import pytest

from services.collector.payloads import merge_profiles, parse_post, parse_profile
from tests.collector.support import BIG_USER_ID, edge_profile, flat_profile


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
