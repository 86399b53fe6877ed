"""The dashboard's sign-in: a key in an HttpOnly, SameSite=Strict cookie, checked by the same
auth step as every API route, and never usable by another site."""

import re
from collections.abc import AsyncIterator

import pytest
from httpx import AsyncClient

from shared.settings import Settings
from tests.api.support import INFLUENCER, Sessions, add_api_key, assert_error, running_app

FROM_THE_PAGE = {"HX-Request": "true"}


@pytest.fixture
async def guarded(settings: Settings, sessions: Sessions) -> AsyncIterator[AsyncClient]:
    async with running_app(settings.model_copy(update={"api_auth": "required"})) as client:
        yield client


async def sign_in(client: AsyncClient, key: str) -> str:
    """Sign in as the page does; return the Set-Cookie header."""
    response = await client.post("/ui/session", headers={"X-API-Key": key, **FROM_THE_PAGE})
    assert response.status_code == 204, response.text
    assert response.headers["HX-Redirect"] == "/"
    return response.headers["set-cookie"]


async def test_a_browser_without_a_key_is_sent_to_the_sign_in_page(guarded: AsyncClient) -> None:
    for page in ("/", "/ui/targets/influencer/natgeo"):
        response = await guarded.get(page)
        assert response.status_code == 303
        assert response.headers["location"] == "/signin"
    sign_in_page = await guarded.get("/signin")
    assert sign_in_page.status_code == 200
    assert 'id="sign-in"' in sign_in_page.text
    # What the page's scripts load must be served without a key, too.
    assert (await guarded.get("/static/dashboard.js")).status_code == 200
    # A fragment the page polls answers the envelope, which the page turns into a redirect.
    assert_error(
        await guarded.get("/ui/targets/rows", headers=FROM_THE_PAGE), 401, "missing_api_key"
    )


async def test_signing_in_keeps_the_key_in_a_cookie_scripts_and_other_sites_cannot_use(
    guarded: AsyncClient, sessions: Sessions
) -> None:
    key = await add_api_key(sessions)
    cookie = await sign_in(guarded, key)
    assert re.search(r"(?i)httponly", cookie)
    assert re.search(r"(?i)samesite=strict", cookie)
    page = await guarded.get("/")
    assert page.status_code == 200
    assert "Sign out" in page.text
    listed = await guarded.get(f"{INFLUENCER.prefix}/tasks")
    assert listed.status_code == 200
    # A form on another site posting with the cookie carries no HX-Request header.
    create = f"{INFLUENCER.prefix}/create_monitor_task"
    body = {"username": "natgeo", "interval": "1h"}
    assert_error(await guarded.post(create, json=body), 403, "cross_site_request")
    assert (await guarded.get(f"{INFLUENCER.prefix}/tasks")).json()["data"] == []
    created = await guarded.post(create, json=body, headers=FROM_THE_PAGE)
    assert created.status_code == 201, created.text


async def test_a_wrong_key_signs_nobody_in(guarded: AsyncClient, sessions: Sessions) -> None:
    response = await guarded.post(
        "/ui/session", headers={"X-API-Key": "im_not-a-key", **FROM_THE_PAGE}
    )
    assert_error(response, 401, "invalid_api_key")
    assert "set-cookie" not in response.headers
    assert (await guarded.get("/")).status_code == 303


async def test_signing_out_forgets_the_key(guarded: AsyncClient, sessions: Sessions) -> None:
    await sign_in(guarded, await add_api_key(sessions))
    response = await guarded.delete("/ui/session", headers=FROM_THE_PAGE)
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/signin"
    assert (await guarded.get("/")).status_code == 303


async def test_without_auth_there_is_nothing_to_sign_in_to(
    settings: Settings, sessions: Sessions
) -> None:
    async with running_app(settings) as client:
        assert (await client.get("/signin")).headers["location"] == "/"
        page = await client.get("/")
        assert page.status_code == 200
        assert "Sign out" not in page.text


async def test_a_target_nobody_monitors_has_a_page_saying_what_to_do(
    settings: Settings, sessions: Sessions
) -> None:
    async with running_app(settings) as client:
        page = await client.get("/ui/targets/influencer/natgeo")
        assert page.status_code == 404
        assert "natgeo" in page.text
        assert 'href="/?kind=influencer"' in page.text
        bad = await client.get("/ui/targets/post/not a code")
        assert bad.status_code == 422
        assert "post_code" in bad.text


async def test_the_docs_load_their_assets_from_the_api(
    settings: Settings, sessions: Sessions
) -> None:
    async with running_app(settings) as client:
        docs = (await client.get("/docs")).text
        assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", docs)
        assert assets, docs
        for asset in assets:
            assert asset.startswith("/"), f"{asset} would need the internet"
            assert (await client.get(asset)).status_code == 200, asset
