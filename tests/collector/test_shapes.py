"""Every response shape TikHub has been seen to send ends as the right history row."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import respx

from services.collector.collect import Collector, Outcome
from services.collector.tikhub import POST_BY_URL, POST_V2, POST_V3, PROFILE_V1, PROFILE_V3
from shared.models import Source, TaskType
from tests.collector.support import (
    BIG_USER_ID,
    MEDIA_ID,
    Sessions,
    edge_profile,
    failure,
    flat_profile,
    graphql_post,
    influencer_rows,
    items_post,
    make_task,
    metrics_post,
    post_rows,
    reload,
    slot_now,
    success,
)


async def collect_profile(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter, v1: Any, v3: Any = None
) -> dict[str, Any]:
    tikhub.get(PROFILE_V1).respond(200, json=success(v1))
    v3_route = tikhub.get(PROFILE_V3).respond(200, json=success(v3, router=PROFILE_V3))
    task = await make_task(sessions, TaskType.INFLUENCER, "instagram")
    assert await collector.collect(task.id, slot_now(), job_try=1) is Outcome.LIVE
    [row] = await influencer_rows(sessions)
    assert row.source is Source.LIVE
    assert (await reload(sessions, task.id)).user_id == int(BIG_USER_ID)
    return {
        "user_id": row.user_id,
        "followers": row.follower_count,
        "following": row.following_count,
        "posts": row.post_count,
        "bio": row.bio,
        "asked_v3": v3_route.called,
    }


async def test_flat_v1_profile_needs_one_call(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter
) -> None:
    row = await collect_profile(collector, sessions, tikhub, flat_profile())
    assert row == {
        "user_id": int(BIG_USER_ID),
        "followers": 697_000_123,
        "following": 245,
        "posts": 8_123,
        "bio": "Discover what's new on Instagram",
        "asked_v3": False,
    }


async def test_null_media_count_is_filled_from_v3_and_nothing_else_changes(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter
) -> None:
    row = await collect_profile(
        collector, sessions, tikhub, flat_profile(media_count=None), edge_profile()
    )
    # v1's own counts win; v3 only fills the gap.
    assert (row["followers"], row["following"], row["posts"]) == (697_000_123, 245, 8_124)
    assert row["asked_v3"]


async def test_edge_shape_profile(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter
) -> None:
    row = await collect_profile(collector, sessions, tikhub, edge_profile())
    assert (row["followers"], row["following"], row["posts"]) == (697_000_456, 246, 8_124)
    assert not row["asked_v3"]


async def test_nested_data_data_profile(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter
) -> None:
    row = await collect_profile(collector, sessions, tikhub, {"data": flat_profile()})
    assert (row["followers"], row["posts"]) == (697_000_123, 8_123)


async def test_a_count_no_endpoint_has_is_stored_as_null_not_zero(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter
) -> None:
    v1 = flat_profile(following_count=None, media_count="n/a")
    tikhub.get(PROFILE_V3).respond(503, json=failure(503, "Service unavailable"))
    row = await collect_profile(collector, sessions, tikhub, v1)
    assert (row["followers"], row["following"], row["posts"]) == (697_000_123, None, None)


async def test_http_200_with_inner_400_asks_v3_and_records_the_unknown_user(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter
) -> None:
    v1 = tikhub.get(PROFILE_V1).respond(200, json=success({"code": 400, "data": None}))
    v3 = tikhub.get(PROFILE_V3).respond(404, json=failure(404, "User not found."))
    task = await make_task(sessions, TaskType.INFLUENCER, "notfound_someone")

    assert await collector.collect(task.id, slot_now(), job_try=1) is Outcome.FAILED

    assert (v1.call_count, v3.call_count) == (1, 1)
    assert await influencer_rows(sessions) == []
    task = await reload(sessions, task.id)
    assert task.consecutive_failures == 1
    assert task.last_error is not None
    assert "User not found" in task.last_error


async def collect_post(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter, routes: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, int]]:
    called = {path: tikhub.get(path).respond(**answer) for path, answer in routes.items()}
    task = await make_task(sessions, TaskType.POST, "CxYQJO8xuC6")
    assert await collector.collect(task.id, slot_now(), job_try=1) is Outcome.LIVE
    [row] = await post_rows(sessions)
    assert row.source is Source.LIVE
    assert (await reload(sessions, task.id)).post_id == MEDIA_ID
    counts = {"likes": row.like_count, "comments": row.comment_count, "plays": row.play_count}
    return counts, {path: route.call_count for path, route in called.items()}


async def test_items_post_from_the_by_url_endpoint(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter
) -> None:
    reel = items_post(media_type=2, like_count=1_500, comment_count=12, play_count=64_000)
    counts, calls = await collect_post(
        collector, sessions, tikhub, {POST_BY_URL: {"json": success(reel)}, POST_V2: {}}
    )
    assert counts == {"likes": 1_500, "comments": 12, "plays": 64_000}
    assert calls == {POST_BY_URL: 1, POST_V2: 0}


async def test_a_photo_has_no_play_count_and_costs_one_call(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter
) -> None:
    photo = items_post(media_type=1, like_count=310, comment_count=4)
    counts, calls = await collect_post(
        collector, sessions, tikhub, {POST_BY_URL: {"json": success(photo)}, POST_V2: {}}
    )
    assert counts == {"likes": 310, "comments": 4, "plays": None}
    assert calls == {POST_BY_URL: 1, POST_V2: 0}


async def test_graphql_style_post(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter
) -> None:
    counts, _ = await collect_post(
        collector, sessions, tikhub, {POST_BY_URL: {"json": success(graphql_post())}}
    )
    assert counts == {"likes": 1_300, "comments": 41, "plays": 77_000}


async def test_a_video_without_its_play_count_is_completed_from_v2(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter
) -> None:
    reel = items_post(media_type=2, like_count=1_500, comment_count=12)
    counts, calls = await collect_post(
        collector,
        sessions,
        tikhub,
        {POST_BY_URL: {"json": success(reel)}, POST_V2: {"json": success(metrics_post())}},
    )
    assert counts == {"likes": 1_500, "comments": 12, "plays": 90_210}
    assert calls == {POST_BY_URL: 1, POST_V2: 1}


async def test_v3_items_with_ig_play_count_when_the_cheaper_endpoints_fail(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter, waits: list[float]
) -> None:
    reel = items_post(media_type=2, like_count=7, comment_count=1, ig_play_count=300)
    upstream_failed = failure(400, "Request failed. Please retry.")
    counts, calls = await collect_post(
        collector,
        sessions,
        tikhub,
        {
            POST_BY_URL: {"status_code": 400, "json": upstream_failed},
            POST_V2: {"json": success({"data": None})},
            POST_V3: {"json": success(reel)},
        },
    )
    assert counts == {"likes": 7, "comments": 1, "plays": 300}
    # A 400 is retried twice; an answer without data moves on at once.
    assert calls == {POST_BY_URL: 3, POST_V2: 1, POST_V3: 1}
    assert len(waits) == 2


@pytest.mark.parametrize(
    "payload",
    [
        metrics_post(play_count=None, is_video=False),
        items_post(media_type=8, like_count=1_204, comment_count=33, view_count=None),
    ],
    ids=["v2-image", "carousel"],
)
async def test_non_videos_store_null_plays(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter, payload: Any
) -> None:
    counts, _ = await collect_post(
        collector, sessions, tikhub, {POST_BY_URL: {"json": success(payload)}}
    )
    assert counts == {"likes": 1_204, "comments": 33, "plays": None}


async def test_a_posts_details_are_stored_as_first_read(
    collector: Collector, sessions: Sessions, tikhub: respx.MockRouter
) -> None:
    first = items_post(
        media_type=8,
        like_count=310,
        comment_count=4,
        taken_at=1_790_000_000,
        caption={"text": "Three frames of one morning"},
        user={"pk": "42", "username": "natgeo"},
    )
    route = tikhub.get(POST_BY_URL).respond(200, json=success(first))
    task = await make_task(sessions, TaskType.POST, "CxYQJO8xuC6")
    slot = slot_now()
    assert await collector.collect(task.id, slot - timedelta(seconds=10), job_try=1) is (
        Outcome.LIVE
    )

    # The caption edited and the owner renamed: the task keeps what it first read.
    edited = first | {"caption": {"text": "edited"}, "user": {"pk": "42", "username": "renamed"}}
    route.respond(200, json=success(edited))
    assert await collector.collect(task.id, slot, job_try=1) is Outcome.LIVE

    assert len(await post_rows(sessions)) == 2
    stored = await reload(sessions, task.id)
    assert (stored.owner_username, stored.published_at, stored.media_type, stored.caption) == (
        "natgeo",
        datetime(2026, 9, 21, 14, 13, 20, tzinfo=UTC),
        "carousel",
        "Three frames of one morning",
    )
    assert stored.post_id == MEDIA_ID
