"""Call counters: what end-to-end tests read to prove who called the sandbox, and how often."""

from shared.tikhub_usage import key_fingerprint
from tests.sandbox.support import TEST_KEY, ClientFactory

PROFILE = "/api/v1/instagram/v1/fetch_user_info_by_username_v3"
POST = "/api/v1/instagram/v3/get_post_info_by_code"
BY_URL = "/api/v1/instagram/v1/fetch_post_by_url"


async def test_calls_are_counted_per_username_shortcode_and_path(
    make_client: ClientFactory,
) -> None:
    async with make_client() as client:
        await client.get(PROFILE, params={"username": "natgeo"})
        await client.get(PROFILE, params={"username": "@NatGeo"})
        await client.get(PROFILE, params={"username": "notfound_x"})
        await client.get(POST, params={"code": "DAbc123"})
        await client.get(BY_URL, params={"post_url": "https://www.instagram.com/reel/DAbc123/"})
        await client.get("/_sandbox/config")
        counts = (await client.get("/_sandbox/calls")).json()
    assert counts == {
        "total": 5,
        "by_path": {PROFILE: 3, POST: 1, BY_URL: 1},
        "by_username": {"natgeo": 2, "notfound_x": 1},
        "by_shortcode": {"DAbc123": 2},
        "by_key": {key_fingerprint(TEST_KEY): 5},
    }


async def test_refused_and_failed_calls_count_too(make_client: ClientFactory) -> None:
    async with make_client(bearer=None) as client:
        await client.get(PROFILE, params={"username": "natgeo"})
        await client.put("/_sandbox/config", json={"outage": True})
        await client.get(POST, params={"code": "DAbc123"}, headers={"Authorization": "Bearer k"})
        await client.get("/api/v1/instagram/v9/no_such_path")
        counts = (await client.get("/_sandbox/calls")).json()
    assert counts["total"] == 3
    assert counts["by_username"] == {"natgeo": 1}
    assert counts["by_shortcode"] == {"DAbc123": 1}
    assert counts["by_path"]["/api/v1/instagram/v9/no_such_path"] == 1


async def test_deleting_the_counts_starts_again_from_zero(make_client: ClientFactory) -> None:
    async with make_client() as client:
        await client.get(PROFILE, params={"username": "natgeo"})
        reset = await client.delete("/_sandbox/calls")
        zero = (await client.get("/_sandbox/calls")).json()
        await client.get(POST, params={"code": "DAbc123"})
        one = (await client.get("/_sandbox/calls")).json()
    assert reset.status_code == 204
    assert zero == {"total": 0, "by_path": {}, "by_username": {}, "by_shortcode": {}, "by_key": {}}
    assert one["total"] == 1
    assert one["by_shortcode"] == {"DAbc123": 1}
    assert one["by_username"] == {}
