"""Post paths: three shapes, images without plays, missing posts, and likes that saturate."""

import pytest

from services.sandbox.drift import HOUR, post_traits
from tests.sandbox.support import ClientFactory, FakeClock

V2 = "/api/v1/instagram/v2/fetch_post_info"
V3 = "/api/v1/instagram/v3/get_post_info_by_code"
BY_URL = "/api/v1/instagram/v1/fetch_post_by_url"
REEL = "DAbc123_x-Y"


async def test_v2_answers_a_reel_with_metrics_and_plays(make_client: ClientFactory) -> None:
    url = f"https://www.instagram.com/reel/{REEL}/?igsh=abc"
    async with make_client() as client:
        response = await client.get(V2, params={"code_or_url": url})
    assert response.status_code == 200
    body = response.json()
    assert body["code"] == 200
    assert body["router"] == V2
    assert body["params"] == {"code_or_url": url}
    post = body["data"]["data"]
    assert post["code"] == REEL
    assert isinstance(post["id"], str)
    assert post["id"].isdigit()
    assert int(post["id"]) > 2**53
    assert post["is_video"] is True
    metrics = post["metrics"]
    for count in ("like_count", "comment_count", "play_count"):
        assert type(metrics[count]) is int, count
        assert metrics[count] >= 0, count
    assert metrics["play_count"] > metrics["like_count"] > metrics["comment_count"]


async def test_v3_answers_items_with_media_type_and_ig_play_count(
    make_client: ClientFactory,
) -> None:
    async with make_client() as client:
        response = await client.get(V3, params={"code": REEL})
    assert response.status_code == 200
    item = response.json()["data"]["items"][0]
    assert item["code"] == REEL
    assert item["media_type"] == 2
    assert type(item["like_count"]) is int
    assert type(item["comment_count"]) is int
    assert type(item["ig_play_count"]) is int
    assert "play_count" not in item


@pytest.mark.parametrize(
    "url",
    [
        f"https://www.instagram.com/p/{REEL}/",
        f"https://instagram.com/reels/{REEL}",
        f"https://www.instagram.com/tv/{REEL}/?utm_source=ig_web",
        f"https://www.instagram.com/some.creator/p/{REEL}/",
    ],
)
async def test_by_url_finds_the_shortcode_in_every_post_url_form(
    make_client: ClientFactory, url: str
) -> None:
    async with make_client() as client:
        response = await client.get(BY_URL, params={"post_url": url})
    assert response.status_code == 200
    item = response.json()["data"]["items"][0]
    assert item["code"] == REEL
    assert type(item["play_count"]) is int


async def test_all_post_paths_agree_at_the_same_instant(make_client: ClientFactory) -> None:
    async with make_client() as client:
        v2 = (await client.get(V2, params={"code_or_url": REEL})).json()["data"]["data"]
        v3 = (await client.get(V3, params={"code": REEL})).json()["data"]["items"][0]
        url = f"https://www.instagram.com/p/{REEL}/"
        v1 = (await client.get(BY_URL, params={"post_url": url})).json()["data"]["items"][0]
    assert v2["metrics"]["like_count"] == v3["like_count"] == v1["like_count"]
    assert v2["metrics"]["comment_count"] == v3["comment_count"] == v1["comment_count"]
    assert v2["metrics"]["play_count"] == v3["ig_play_count"] == v1["play_count"]
    assert v2["pk"] == v3["pk"] == v1["pk"]


async def test_an_img_shortcode_is_a_photo_without_plays(make_client: ClientFactory) -> None:
    async with make_client() as client:
        v2 = (await client.get(V2, params={"code_or_url": "imgSunset1"})).json()["data"]["data"]
        v3 = (await client.get(V3, params={"code": "imgSunset1"})).json()["data"]["items"][0]
        url = "https://www.instagram.com/p/imgSunset1/"
        v1 = (await client.get(BY_URL, params={"post_url": url})).json()["data"]["items"][0]
    assert v2["is_video"] is False
    assert v2["media_type"] == 1
    assert v2["metrics"]["play_count"] is None
    assert type(v2["metrics"]["like_count"]) is int
    for item in (v3, v1):
        assert item["media_type"] == 1
        assert not {"play_count", "ig_play_count", "view_count"} & item.keys()
        assert type(item["like_count"]) is int


async def test_a_carousel_shortcode_has_media_type_8_and_no_plays(
    make_client: ClientFactory,
) -> None:
    async with make_client() as client:
        item = (await client.get(V3, params={"code": "carouselTrip"})).json()["data"]["items"][0]
    assert item["media_type"] == 8
    assert "ig_play_count" not in item


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (V2, {"code_or_url": "missingPost1"}),
        (V3, {"code": "missingPost1"}),
        (BY_URL, {"post_url": "https://www.instagram.com/p/missingPost1/"}),
    ],
)
async def test_a_missing_shortcode_is_a_404_on_every_path(
    make_client: ClientFactory, path: str, params: dict[str, str]
) -> None:
    async with make_client() as client:
        response = await client.get(path, params=params)
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert detail["code"] == 404
    assert detail["router"] == path
    assert detail["params"] == params


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        (V3, {}, 422),
        (BY_URL, {}, 422),
        (V3, {"code": "not a code!"}, 400),
        (BY_URL, {"post_url": "https://www.instagram.com/explore/"}, 400),
    ],
)
async def test_bad_or_missing_post_parameters_are_refused(
    make_client: ClientFactory, path: str, params: dict[str, str], status: int
) -> None:
    async with make_client() as client:
        response = await client.get(path, params=params)
    assert response.status_code == status


async def test_likes_of_a_fresh_post_rise_fast_then_flatten(
    make_client: ClientFactory, clock: FakeClock
) -> None:
    # With the epoch at "now" the post was published within the last day: still rising.
    epoch = int(clock.now)
    published = epoch - post_traits(REEL).published_before_epoch
    likes = []
    async with make_client(epoch=epoch) as client:
        for hours in (0, 1, 2, 24, 25, 72, 73):
            clock.now = published + hours * HOUR
            response = await client.get(V3, params={"code": REEL})
            likes.append(response.json()["data"]["items"][0]["like_count"])
    first_hour, second_hour = likes[1] - likes[0], likes[2] - likes[1]
    day_later_hour, three_days_later_hour = likes[4] - likes[3], likes[6] - likes[5]
    assert likes == sorted(likes)
    assert first_hour > second_hour > day_later_hour >= three_days_later_hour >= 0
