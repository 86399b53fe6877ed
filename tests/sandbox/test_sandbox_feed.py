"""User-posts paths: v1 data.items, v2 data.data.items, reels, pinned posts first, hidden likes,
photos' false play count, pagination over the whole feed, determinism and the fault knobs."""

from typing import Any

import httpx

from services.sandbox.drift import profile_at
from services.sandbox.settings import SandboxSettings
from tests.sandbox.support import FIXED_NOW, ClientFactory, FakeClock

PROFILE_V1 = "/api/v1/instagram/v1/fetch_user_info_by_username_v3"
POSTS_V1 = "/api/v1/instagram/v1/fetch_user_posts"
POSTS_V2 = "/api/v1/instagram/v2/fetch_user_posts"
REELS_V2 = "/api/v1/instagram/v2/fetch_user_reels"
POST_V3 = "/api/v1/instagram/v3/get_post_info_by_code"
CREATOR = "natgeo"
EPOCH = SandboxSettings(_env_file=None).epoch


async def user_id(client: httpx.AsyncClient, username: str = CREATOR) -> str:
    """The creator's id, which the sandbox learns by serving the profile."""
    response = await client.get(PROFILE_V1, params={"username": username})
    return str(response.json()["data"]["pk"])


async def v1_page(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get(POSTS_V1, params=params)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def test_v1_lists_pinned_posts_first_then_the_newest(make_client: ClientFactory) -> None:
    async with make_client() as client:
        page = await v1_page(client, user_id=await user_id(client), count=20)

    items = page["items"]
    assert len(items) == page["num_results"] == 20
    assert page["more_available"] is True
    assert isinstance(page["next_max_id"], str)
    pinned = [item for item in items if item["is_pinned"]]
    assert pinned
    assert items[: len(pinned)] == pinned
    rest = items[len(pinned) :]
    times = [item["taken_at"] for item in rest]
    assert times == sorted(times, reverse=True)
    # Pinned posts are old ones shown first, not again in their place.
    assert all(item["taken_at"] < times[-1] for item in pinned)
    for item in items:
        assert isinstance(item["pk"], str)
        assert item["pk"].isdigit()
        assert item["user"]["username"] == CREATOR
        assert item["media_type"] in (1, 2, 8)
        assert type(item["comment_count"]) is int


async def test_hidden_likes_are_null_and_photos_carry_a_false_play_count(
    make_client: ClientFactory,
) -> None:
    async with make_client() as client:
        items = (await v1_page(client, user_id=await user_id(client), count=50))["items"]

    hidden = [item for item in items if item["like_and_view_counts_disabled"]]
    assert hidden
    assert all(item["like_count"] is None for item in hidden)
    assert all(type(i["like_count"]) is int for i in items if i not in hidden)
    still = [item for item in items if item["media_type"] != 2]
    assert still
    assert all(item["play_count"] == 0 for item in still)
    assert all("ig_play_count" not in item for item in still)
    videos = [item for item in items if item["media_type"] == 2]
    assert videos
    assert all(item["play_count"] == item["ig_play_count"] > 0 for item in videos)
    assert all(item["product_type"] == "clips" for item in videos)


async def test_the_pages_cover_the_whole_feed_once(make_client: ClientFactory) -> None:
    username = "fewposts.cara"
    async with make_client() as client:
        pk = await user_id(client, username)
        codes: list[str] = []
        cursor = None
        while True:
            params = {"user_id": pk, "count": 2} | ({"max_id": cursor} if cursor else {})
            page = await v1_page(client, **params)
            codes += [item["code"] for item in page["items"]]
            cursor = page["next_max_id"]
            if not page["more_available"]:
                assert cursor is None
                break

    assert len(codes) == len(set(codes)) == 5
    assert profile_at(username, FIXED_NOW, epoch=EPOCH).media_count == 5


async def test_v2_nests_the_items_and_pages_by_token(make_client: ClientFactory) -> None:
    async with make_client() as client:
        first = (await client.get(POSTS_V2, params={"username": CREATOR})).json()["data"]
        token = first["pagination_token"]
        second = (
            await client.get(POSTS_V2, params={"username": CREATOR, "pagination_token": token})
        ).json()["data"]
        v1 = await v1_page(client, user_id=await user_id(client), count=24)

    assert "items" not in first
    assert len(first["data"]["items"]) == len(second["data"]["items"]) == 12
    both = [item["code"] for item in first["data"]["items"] + second["data"]["items"]]
    assert both == [item["code"] for item in v1["items"]]


async def test_reels_are_the_videos_of_the_feed_wrapped_as_media(
    make_client: ClientFactory,
) -> None:
    async with make_client() as client:
        reels = (await client.get(REELS_V2, params={"username": CREATOR})).json()["data"]
        feed = await v1_page(client, user_id=await user_id(client), count=50)

    media = [item["media"] for item in reels["data"]["items"]]
    assert media
    assert all(item["media_type"] == 2 for item in media)
    videos = [item["code"] for item in feed["items"] if item["media_type"] == 2]
    assert [item["code"] for item in media] == videos[: len(media)]


async def test_a_feed_post_has_the_same_numbers_on_the_post_paths(
    make_client: ClientFactory,
) -> None:
    async with make_client() as client:
        feed = await v1_page(client, user_id=await user_id(client), count=5)
        item = feed["items"][-1]
        post = (await client.get(POST_V3, params={"code": item["code"]})).json()["data"]

    single = post["items"][0]
    assert single["taken_at"] == item["taken_at"]
    assert single["user"]["username"] == CREATOR
    assert single["comment_count"] == item["comment_count"]


async def test_the_feed_is_deterministic(make_client: ClientFactory) -> None:
    pages = []
    for _ in range(2):
        async with make_client() as client:
            pages.append(await v1_page(client, user_id=await user_id(client), count=30))
    assert pages[0] == pages[1]


async def test_private_creators_show_no_posts_and_unknown_ones_are_404(
    make_client: ClientFactory,
) -> None:
    async with make_client() as client:
        private = await v1_page(client, user_id=await user_id(client, "private.dan"))
        unknown_id = await client.get(POSTS_V1, params={"user_id": "12345"})
        not_found = await client.get(POSTS_V2, params={"username": "notfound.eve"})
        missing = await client.get(POSTS_V1, params={"count": "12"})
        bad_cursor = await client.get(
            POSTS_V2, params={"username": CREATOR, "pagination_token": "x"}
        )
        bad_count = await client.get(POSTS_V1, params={"user_id": "1", "count": "500"})

    assert private["items"] == []
    assert private["more_available"] is False
    assert unknown_id.status_code == not_found.status_code == 404
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["query", "user_id"]
    assert bad_cursor.status_code == bad_count.status_code == 400


async def test_the_fault_knobs_apply_to_the_feeds(
    make_client: ClientFactory, clock: FakeClock
) -> None:
    async with make_client() as client:
        await client.put("/_sandbox/config", json={"outage": True})
        down = await client.get(POSTS_V2, params={"username": CREATOR})
        await client.put("/_sandbox/config", json={"outage": False, "rate_limit_rate": 1.0})
        limited = await client.get(POSTS_V2, params={"username": CREATOR})
        calls = (await client.get("/_sandbox/calls")).json()
    async with make_client(bearer=None) as anonymous:
        refused = await anonymous.get(POSTS_V2, params={"username": CREATOR})

    assert down.status_code == 503
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"
    assert refused.status_code == 401
    assert calls["by_path"][POSTS_V2] == 2
    assert calls["by_username"][CREATOR] == 2
