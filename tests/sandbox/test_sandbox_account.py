"""A pool of keys, one of them revoked at runtime, and the account endpoint's balance."""

from shared.tikhub_usage import key_fingerprint
from tests.sandbox.support import ClientFactory

PROFILE = "/api/v1/instagram/v1/fetch_user_info_by_username_v3"
ACCOUNT = "/api/v1/tikhub/user/get_user_info"


async def test_every_key_of_the_pool_is_accepted_until_one_is_rejected(
    make_client: ClientFactory,
) -> None:
    async with make_client(bearer=None, api_key="key-a", api_keys="key-b, key-c") as client:

        async def status(key: str) -> int:
            headers = {"Authorization": f"Bearer {key}"}
            response = await client.get(PROFILE, params={"username": "natgeo"}, headers=headers)
            return response.status_code

        assert [await status(key) for key in ("key-a", "key-b", "key-c", "key-d")] == [
            200,
            200,
            200,
            401,
        ]
        changed = await client.put("/_sandbox/config", json={"rejected_keys": ["key-b"]})
        assert changed.status_code == 200
        assert [await status(key) for key in ("key-a", "key-b", "key-c")] == [200, 401, 200]
        counts = (await client.get("/_sandbox/calls")).json()
    assert counts["by_key"] == {
        key_fingerprint("key-a"): 2,
        key_fingerprint("key-b"): 2,
        key_fingerprint("key-c"): 2,
        key_fingerprint("key-d"): 1,
    }


async def test_the_account_endpoint_reports_the_balance_free_of_charge(
    make_client: ClientFactory,
) -> None:
    async with make_client(balance_usd=42.5, free_credit_usd=1.25) as client:
        first = await client.get(ACCOUNT)
        await client.put("/_sandbox/config", json={"balance_usd": 7})
        second = (await client.get(ACCOUNT)).json()
        calls = (await client.get("/_sandbox/calls")).json()
    body = first.json()
    assert first.status_code == 200
    assert body["code"] == 200
    assert "free of charge" in body["message"]
    assert body["data"]["user_data"]["balance"] == 42.5
    assert body["data"]["user_data"]["free_credit"] == 1.25
    assert second["data"]["user_data"]["balance"] == 7
    assert calls["by_path"] == {ACCOUNT: 2}


async def test_the_account_endpoint_needs_a_valid_key(make_client: ClientFactory) -> None:
    async with make_client(bearer="wrong", api_key="right") as client:
        response = await client.get(ACCOUNT)
    assert response.status_code == 401
