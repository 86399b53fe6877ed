"""Profile paths: the documented shapes, the special usernames, and numbers that drift."""

from typing import Any

import pytest

from services.sandbox.drift import DAY
from tests.sandbox.support import ClientFactory, FakeClock

V1 = "/api/v1/instagram/v1/fetch_user_info_by_username_v3"
V3 = "/api/v1/instagram/v3/get_user_profile"
DEMO = "/api/v1/demo/instagram/web/fetch_user_info"


def assert_envelope(body: dict[str, Any], *, router: str, params: dict[str, str]) -> None:
    assert body["code"] == 200
    assert body["router"] == router
    assert body["params"] == params
    assert isinstance(body["request_id"], str)
    assert body["request_id"]
    assert body["message"].startswith("Request successful")


async def test_v1_answers_a_flat_profile_with_integer_counts(make_client: ClientFactory) -> None:
    async with make_client() as client:
        response = await client.get(V1, params={"username": "natgeo"})
    assert response.status_code == 200
    body = response.json()
    assert_envelope(body, router=V1, params={"username": "natgeo"})
    assert response.headers["x-request-id"] == body["request_id"]
    data = body["data"]
    assert data["username"] == "natgeo"
    # Ids travel as strings: they can exceed 2**53.
    assert isinstance(data["pk"], str)
    assert data["pk"].isdigit()
    assert data["id"] == data["pk"]
    for count in ("follower_count", "following_count", "media_count"):
        assert type(data[count]) is int, count
        assert data[count] >= 0, count
    assert data["is_private"] is False
    assert isinstance(data["biography"], str)


async def test_v3_answers_edge_counts_that_match_v1_at_the_same_instant(
    make_client: ClientFactory,
) -> None:
    async with make_client() as client:
        flat = (await client.get(V1, params={"username": "natgeo"})).json()["data"]
        response = await client.get(V3, params={"username": "natgeo"})
    assert response.status_code == 200
    body = response.json()
    assert_envelope(body, router=V3, params={"username": "natgeo"})
    user = body["data"]["user"]
    assert user["id"] == flat["pk"]
    assert user["username"] == "natgeo"
    assert user["edge_followed_by"]["count"] == flat["follower_count"]
    assert user["edge_follow"]["count"] == flat["following_count"]
    assert user["edge_owner_to_timeline_media"]["count"] == flat["media_count"]


async def test_the_free_demo_path_always_answers_instagram(make_client: ClientFactory) -> None:
    async with make_client() as client:
        response = await client.get(DEMO)
    body = response.json()
    assert response.status_code == 200
    assert_envelope(body, router=DEMO, params={})
    assert "free" in body["message"]
    assert body["data"]["username"] == "instagram"
    assert type(body["data"]["follower_count"]) is int


async def test_usernames_are_normalised_like_instagram_does(make_client: ClientFactory) -> None:
    async with make_client() as client:
        plain = (await client.get(V1, params={"username": "natgeo"})).json()["data"]
        typed = (await client.get(V1, params={"username": " @NatGeo "})).json()["data"]
    assert typed["username"] == "natgeo"
    assert typed["follower_count"] == plain["follower_count"]


async def test_the_same_instant_gives_the_same_numbers_and_time_moves_them(
    make_client: ClientFactory, clock: FakeClock
) -> None:
    async with make_client() as client:
        first = (await client.get(V1, params={"username": "natgeo"})).json()["data"]
        again = (await client.get(V1, params={"username": "natgeo"})).json()["data"]
        clock.now += 30 * DAY
        month_later = (await client.get(V1, params={"username": "natgeo"})).json()["data"]
    assert again == first
    assert month_later["follower_count"] > first["follower_count"]
    assert month_later["media_count"] >= first["media_count"]
    # Identity does not drift.
    assert (month_later["pk"], month_later["full_name"]) == (first["pk"], first["full_name"])


async def test_two_sandboxes_agree_on_the_same_name_at_the_same_instant(
    make_client: ClientFactory,
) -> None:
    async with make_client() as one, make_client() as other:
        a = (await one.get(V3, params={"username": "someone.else"})).json()["data"]
        b = (await other.get(V3, params={"username": "someone.else"})).json()["data"]
    assert a == b


async def test_a_notfound_user_is_an_inner_400_on_v1_and_a_404_on_v3(
    make_client: ClientFactory,
) -> None:
    async with make_client() as client:
        v1 = await client.get(V1, params={"username": "notfound_anyone"})
        v3 = await client.get(V3, params={"username": "notfound_anyone"})
    # HTTP 200 and code 200 outside, yet no user: the collector must look inside `data`.
    assert v1.status_code == 200
    assert v1.json()["code"] == 200
    assert v1.json()["data"] == {"code": 400, "data": None}
    assert v3.status_code == 404
    assert v3.json()["detail"]["code"] == 404
    assert v3.json()["detail"]["router"] == V3


async def test_a_private_account_is_marked_private_and_still_has_counts(
    make_client: ClientFactory,
) -> None:
    async with make_client() as client:
        flat = (await client.get(V1, params={"username": "private.person"})).json()["data"]
        graph = (await client.get(V3, params={"username": "private.person"})).json()["data"]
    assert flat["is_private"] is True
    assert graph["user"]["is_private"] is True
    assert type(flat["follower_count"]) is int
    assert type(graph["user"]["edge_followed_by"]["count"]) is int


async def test_a_nomedia_account_has_a_null_post_count_only_in_the_flat_shape(
    make_client: ClientFactory,
) -> None:
    async with make_client() as client:
        flat = (await client.get(V1, params={"username": "nomedia_shop"})).json()["data"]
        graph = (await client.get(V3, params={"username": "nomedia_shop"})).json()["data"]
    assert flat["media_count"] is None
    assert type(flat["follower_count"]) is int
    assert type(graph["user"]["edge_owner_to_timeline_media"]["count"]) is int


async def test_v3_finds_a_user_by_an_id_it_has_served(make_client: ClientFactory) -> None:
    async with make_client() as client:
        unknown = await client.get(V3, params={"user_id": "123456789"})
        pk = (await client.get(V1, params={"username": "natgeo"})).json()["data"]["pk"]
        by_id = await client.get(V3, params={"user_id": pk})
    assert unknown.status_code == 404
    assert by_id.status_code == 200
    assert by_id.json()["data"]["user"]["username"] == "natgeo"


@pytest.mark.parametrize(
    ("params", "status"),
    [({}, 422), ({"username": "not a/username"}, 400), ({"username": "x" * 31}, 400)],
)
async def test_bad_or_missing_usernames_are_refused(
    make_client: ClientFactory, params: dict[str, str], status: int
) -> None:
    async with make_client() as client:
        response = await client.get(V1, params=params)
    assert response.status_code == status
    assert "detail" in response.json()
