"""A track_posts task samples the creator's posts with the profile: at most once an hour, never
failing the profile, and user_stats.engagement worked out by hand from a known feed."""

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import respx
from httpx import AsyncClient
from sqlalchemy import select

from services.collector.collect import Collector, Outcome
from services.collector.tikhub import PROFILE_V1, USER_POSTS_V1, USER_POSTS_V2
from shared.models import PostSample, PostSampleItem, TaskType
from shared.settings import Settings
from tests.api.support import INFLUENCER_PREFIX, running_app
from tests.collector.support import (
    BIG_USER_ID,
    Sessions,
    failure,
    flat_profile,
    influencer_rows,
    make_task,
    slot_now,
    success,
)

FOLLOWERS = 10_000
DAY = 86_400


def feed_item(
    code: str,
    media_type: int,
    likes: int | None,
    comments: int,
    *,
    age_days: float,
    plays: int | None = None,
    pinned: bool = False,
) -> dict[str, Any]:
    """One post of a v1 feed, published `age_days` ago."""
    item: dict[str, Any] = {
        "pk": str(3_100_000_000_000_000_000 + sum(map(ord, code))),
        "code": code,
        "taken_at": int(datetime.now().timestamp() - age_days * DAY),
        "media_type": media_type,
        "product_type": "clips" if media_type == 2 else "feed",
        "is_pinned": pinned,
        "like_count": likes,
        "comment_count": comments,
        "caption": {"text": f"post {code}"},
    }
    if plays is not None:
        item["play_count"] = plays
    return item


VIDEO, IMAGE, CAROUSEL = 2, 1, 8


def known_feed() -> list[dict[str, Any]]:
    """A pinned post, then 13 posts newest first: n0 … n12, n_k published 2.5 k + 1 days ago.

    Non-videos carry the false play count 0 that feeds send; n1 hides its likes; n7 is a video
    without plays.
    """
    rows = [
        # code, type, likes, comments, plays
        ("n0", VIDEO, 500, 20, 10_000),
        ("n1", IMAGE, None, 15, 0),
        ("n2", VIDEO, 300, 30, 6_000),
        ("n3", CAROUSEL, 800, 40, 0),
        ("n4", IMAGE, 200, 10, 0),
        ("n5", VIDEO, 1_000, 100, 22_000),
        ("n6", IMAGE, 400, 0, 0),
        ("n7", VIDEO, 600, 60, None),
        ("n8", IMAGE, 700, 70, 0),
        ("n9", VIDEO, 100, 5, 1_000),
        ("n10", CAROUSEL, 900, 90, 0),
        ("n11", IMAGE, 250, 25, 0),
        ("n12", VIDEO, 99_999, 9_999, 100),
    ]
    pinned = feed_item("pinned0", VIDEO, 90_000, 9_000, age_days=100, plays=10, pinned=True)
    return [pinned] + [
        feed_item(code, kind, likes, comments, age_days=2.5 * k + 1, plays=plays)
        for k, (code, kind, likes, comments, plays) in enumerate(rows)
    ]


PROFILE = success(flat_profile(follower_count=FOLLOWERS))


def v1_feed(items: list[dict[str, Any]]) -> dict[str, Any]:
    return success(
        {"items": items, "num_results": len(items), "more_available": False},
        router=USER_POSTS_V1,
    )


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[AsyncClient]:
    async with running_app(settings) as client:
        yield client


async def engagement(api: AsyncClient) -> Any:
    response = await api.get(f"{INFLUENCER_PREFIX}/user_stats/instagram")
    assert response.status_code == 200, response.text
    return response.json()["data"]["engagement"]


async def samples(sessions: Sessions) -> list[PostSample]:
    async with sessions() as session:
        return list(await session.scalars(select(PostSample).order_by(PostSample.scheduled_for)))


async def test_engagement_of_a_known_feed_worked_out_by_hand(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter, api: AsyncClient
) -> None:
    tikhub.get(PROFILE_V1).respond(200, json=PROFILE)
    posts = tikhub.get(USER_POSTS_V1).respond(200, json=v1_feed(known_feed()))
    task = await make_task(sessions, TaskType.INFLUENCER, "instagram", track_posts=True)

    assert await collector.collect(task.id, slot_now(), job_try=1) is Outcome.LIVE

    assert posts.call_count == 1
    assert posts.calls[0].request.url.params["user_id"] == BIG_USER_ID
    data = await engagement(api)
    # The newest 12 that are not pinned: n0 … n11 (the pinned post and n12 are left out).
    assert [post["post_code"] for post in data["posts"]] == [f"n{k}" for k in range(12)]
    assert data["posts_sampled"] == 12
    # n1's hidden likes are left out, not counted as 0 (which would make it (400 + 500) / 2):
    # 100 200 250 300 400 [500] 600 700 800 900 1000.
    assert data["median_likes"] == 500
    # All 12: 0 5 10 15 20 [25 30] 40 60 70 90 100.
    assert data["median_comments"] == 27.5
    # (likes + comments) / 10,000 * 100 of the 11 with likes:
    # 1.05 2.1 2.75 3.3 4.0 [5.2] 6.6 7.7 8.4 9.9 11.0.
    assert data["engagement_rate"] == pytest.approx(5.2)
    # Videos with plays: n0 520/10,000, n2 330/6,000, n5 1,100/22,000, n9 105/1,000 (n7 has
    # none): 5.0 [5.2 5.5] 10.5, in percent.
    assert data["engagement_rate_by_views"] == pytest.approx(5.35)
    # n0 … n10 were published 1 to 26 days ago, n11 28.5 and n12 31: 11 posts in 28 days.
    assert data["posts_per_week"] == 2.75
    by_code = {post["post_code"]: post for post in data["posts"]}
    assert by_code["n1"]["like_count"] is None
    # Photos' and carousels' false play count of 0 is not a count.
    assert by_code["n1"]["play_count"] is None
    assert by_code["n3"]["play_count"] is None
    assert by_code["n0"] | {"published_at": None} == {
        "post_code": "n0",
        "published_at": None,
        "media_type": "video",
        "like_count": 500,
        "comment_count": 20,
        "play_count": 10_000,
    }
    async with sessions() as session:
        stored = await session.scalars(select(PostSampleItem).order_by(PostSampleItem.position))
        # One snapshot per sampled post, pinned and the 13th included.
        assert [item.post_code for item in stored] == ["pinned0"] + [f"n{k}" for k in range(13)]


async def test_a_creator_is_sampled_at_most_once_an_hour(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter
) -> None:
    profile = tikhub.get(PROFILE_V1).respond(200, json=PROFILE)
    posts = tikhub.get(USER_POSTS_V1).respond(200, json=v1_feed(known_feed()))
    task = await make_task(sessions, TaskType.INFLUENCER, "instagram", track_posts=True)
    start = slot_now()

    for minutes in (0, 30, 59, 60, 90):
        slot = start + timedelta(minutes=minutes)
        assert await collector.collect(task.id, slot, job_try=1) is Outcome.LIVE
    # The same slot again (arq runs a job at least once): nothing more.
    assert await collector.collect(task.id, start, job_try=2) is Outcome.SKIPPED

    assert profile.call_count == 5
    assert posts.call_count == 2
    assert [s.scheduled_for for s in await samples(sessions)] == [
        start,
        start + timedelta(minutes=60),
    ]


async def test_a_failed_sample_never_fails_the_profile_and_waits_an_hour(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter, api: AsyncClient
) -> None:
    tikhub.get(PROFILE_V1).respond(200, json=PROFILE)
    v1 = tikhub.get(USER_POSTS_V1).respond(404, json=failure(404, "User not found."))
    v2 = tikhub.get(USER_POSTS_V2).respond(404, json=failure(404, "User not found."))
    task = await make_task(sessions, TaskType.INFLUENCER, "instagram", track_posts=True)
    start = slot_now()

    assert await collector.collect(task.id, start, job_try=1) is Outcome.LIVE
    assert await collector.collect(task.id, start + timedelta(minutes=30), job_try=1) is (
        Outcome.LIVE
    )

    rows = await influencer_rows(sessions)
    assert [row.follower_count for row in rows] == [FOLLOWERS, FOLLOWERS]
    # A 404 is permanent: v2 is not asked, and the hour's sample is the failed one.
    assert (v1.call_count, v2.call_count) == (1, 0)
    [sample] = await samples(sessions)
    assert sample.error == f"TikHub {USER_POSTS_V1}: HTTP 404: User not found."
    assert await engagement(api) is None


async def test_a_transient_v1_failure_falls_back_to_v2_and_its_nested_items(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter, api: AsyncClient
) -> None:
    tikhub.get(PROFILE_V1).respond(200, json=PROFILE)
    tikhub.get(USER_POSTS_V1).respond(400, json=failure(400, "Request failed. Please retry."))
    nested = {"data": {"items": known_feed()[:4]}, "pagination_token": "next"}
    v2 = tikhub.get(USER_POSTS_V2).respond(200, json=success(nested, router=USER_POSTS_V2))
    task = await make_task(sessions, TaskType.INFLUENCER, "instagram", track_posts=True)

    assert await collector.collect(task.id, slot_now(), job_try=1) is Outcome.LIVE

    assert v2.calls[0].request.url.params["username"] == "instagram"
    data = await engagement(api)
    assert [post["post_code"] for post in data["posts"]] == ["n0", "n1", "n2"]
    # n1 hides its likes: (500 + 300) / 2 of n0 and n2.
    assert data["median_likes"] == 400


async def test_without_track_posts_or_for_a_private_creator_no_sample_is_taken(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter, api: AsyncClient
) -> None:
    # The more specific route first: respx answers with the first that matches.
    tikhub.get(PROFILE_V1, params={"username": "hidden.one"}).respond(
        200, json=success(flat_profile(username="hidden.one", is_private=True))
    )
    tikhub.get(PROFILE_V1).respond(200, json=PROFILE)
    posts = tikhub.get(USER_POSTS_V1).respond(200, json=v1_feed(known_feed()))
    plain = await make_task(sessions, TaskType.INFLUENCER, "instagram")
    private = await make_task(sessions, TaskType.INFLUENCER, "hidden.one", track_posts=True)

    assert await collector.collect(plain.id, slot_now(), job_try=1) is Outcome.LIVE
    assert await collector.collect(private.id, slot_now(), job_try=1) is Outcome.LIVE

    assert posts.call_count == 0
    assert await samples(sessions) == []
    assert await engagement(api) is None
