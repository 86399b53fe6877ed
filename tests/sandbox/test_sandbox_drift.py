"""The metric model: deterministic per name and instant, drifting the way real accounts do."""

import json
import os
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

from services.sandbox.drift import DAY, HOUR, post_at, post_traits, profile_at, user_id_for
from services.sandbox.settings import DEFAULT_EPOCH

NOW = 1_790_000_000.0
EPOCH = DEFAULT_EPOCH
NAMES = [f"creator_{n}" for n in range(20)] + ["natgeo", "instagram", "a", "the.rock"]
SHORTCODES = [f"C{n}xYz_-{n}" for n in range(20)] + ["DAbc123", "reel0"]
REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_same_name_at_the_same_instant_gives_the_same_numbers() -> None:
    assert profile_at("natgeo", NOW, epoch=EPOCH) == profile_at("natgeo", NOW, epoch=EPOCH)
    assert post_at("DAbc123", NOW, epoch=EPOCH) == post_at("DAbc123", NOW, epoch=EPOCH)


def test_another_process_computes_the_same_numbers() -> None:
    # A differently salted process: would catch any use of Python's per-process hash().
    script = (
        "import json; from services.sandbox.drift import profile_at, post_at;"
        f"p = profile_at('natgeo', {NOW}, epoch={EPOCH});"
        f"q = post_at('DAbc123', {NOW}, epoch={EPOCH});"
        "print(json.dumps([p.user_id, p.follower_count, q.media_id, q.like_count]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    output = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    profile = profile_at("natgeo", NOW, epoch=EPOCH)
    post = post_at("DAbc123", NOW, epoch=EPOCH)
    assert json.loads(output) == [
        profile.user_id,
        profile.follower_count,
        post.media_id,
        post.like_count,
    ]


def test_followers_stay_put_within_a_minute_and_move_across_minutes() -> None:
    minute_start = 60 * (NOW // 60)
    for name in NAMES:
        first = profile_at(name, minute_start, epoch=EPOCH).follower_count
        assert profile_at(name, minute_start + 59, epoch=EPOCH).follower_count == first
    later = [profile_at(name, minute_start + 600, epoch=EPOCH).follower_count for name in NAMES]
    earlier = [profile_at(name, minute_start, epoch=EPOCH).follower_count for name in NAMES]
    assert later != earlier


def test_followers_grow_over_a_month_but_every_profile_sometimes_loses_some() -> None:
    for name in NAMES:
        hourly = [
            profile_at(name, NOW + hour * HOUR, epoch=EPOCH).follower_count
            for hour in range(28 * 24)
        ]
        month_later = profile_at(name, NOW + 30 * DAY, epoch=EPOCH).follower_count
        assert month_later > hourly[0], name
        assert any(b < a for a, b in pairwise(hourly)), name


def test_following_and_post_counts_step_up_rarely() -> None:
    for name in NAMES:
        daily = [profile_at(name, NOW + day * DAY, epoch=EPOCH) for day in range(61)]
        media = [metrics.media_count for metrics in daily]
        following = [metrics.following_count for metrics in daily]
        assert media == sorted(media), name
        assert media[-1] > media[0], name
        assert following == sorted(following), name
        assert following[-1] > following[0], name
        over_one_day = {
            profile_at(name, NOW + hour * HOUR, epoch=EPOCH).following_count for hour in range(24)
        }
        assert len(over_one_day) <= 2, name


def test_likes_rise_fast_then_flatten() -> None:
    for code in SHORTCODES:
        published = EPOCH - post_traits(code).published_before_epoch
        likes = [
            post_at(code, published + hour * HOUR, epoch=EPOCH).like_count for hour in range(73)
        ]
        gains = [b - a for a, b in pairwise(likes)]
        assert all(gain >= 0 for gain in gains), code
        first_six_hours = likes[6] - likes[0]
        six_hours_two_days_later = likes[54] - likes[48]
        assert first_six_hours > 2 * six_hours_two_days_later, code
        # Each hour gains no more than the hour before it (allowing integer rounding).
        assert all(b <= a + 1 for a, b in pairwise(gains)), code
        year_later = post_at(code, published + 365 * DAY, epoch=EPOCH).like_count
        assert likes[-1] <= year_later < 2 * likes[-1], code


def test_plays_outnumber_likes_and_likes_outnumber_comments() -> None:
    for code in SHORTCODES:
        for age in (HOUR, DAY, 30 * DAY):
            published = EPOCH - post_traits(code).published_before_epoch
            post = post_at(code, published + age, epoch=EPOCH)
            assert post.play_count > post.like_count > post.comment_count >= 0, (code, age)


def test_a_post_shows_nothing_before_it_is_published() -> None:
    post = post_at("DAbc123", EPOCH - 2 * DAY, epoch=EPOCH)
    assert (post.like_count, post.comment_count, post.play_count) == (0, 0, 0)


def test_ids_are_stable_and_can_exceed_what_a_double_holds_exactly() -> None:
    ids = [user_id_for(name) for name in NAMES]
    assert ids == [user_id_for(name) for name in NAMES]
    assert len(set(ids)) == len(ids)
    assert any(user_id > 2**53 for user_id in ids)
    assert all(0 < user_id < 2**63 for user_id in ids)
    media_ids = [post_at(code, NOW, epoch=EPOCH).media_id for code in SHORTCODES]
    assert all(2**53 < media_id < 2**63 for media_id in media_ids)
