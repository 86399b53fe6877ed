"""The dashboard's targets table on the server: a page at a time, filtered by text, status
and tag, each row with its tags and health."""

import re

from httpx import AsyncClient
from sqlalchemy import update

from shared.models import Task, TaskHealth
from tests.api.support import INFLUENCER, POST, Kind, Sessions

ROW = re.compile(r'<tr id="row-[^"]+" data-target="([^"]+)"')
POSITION = re.compile(r"(\d+)\N{EN DASH}(\d+) of ([\d,]+) · page (\d+) of (\d+)")


async def add(client: AsyncClient, kind: Kind, targets: list[str], **extra: object) -> None:
    body = {kind.bulk_inputs_field: kind.bulk_inputs(targets), "interval": "1h", **extra}
    response = await client.post(f"{kind.prefix}/create_monitor_tasks", json=body)
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]["created"]) == len(targets)


async def table(
    client: AsyncClient, **query: str | int
) -> tuple[list[str], tuple[int, ...] | None]:
    """The targets a page of the table lists, and its position (first, last, total, page, pages)."""
    response = await client.get("/ui/targets/rows", params={"kind": "influencer", **query})
    assert response.status_code == 200, response.text
    position = POSITION.search(response.text)
    numbers = tuple(int(n.replace(",", "")) for n in position.groups()) if position else None
    return ROW.findall(response.text), numbers


async def test_the_table_shows_fifty_targets_a_page_and_every_target_on_one_page(
    client: AsyncClient,
) -> None:
    targets = [f"creator{n:03d}" for n in range(120)]
    await add(client, INFLUENCER, targets)

    first, position = await table(client)
    assert len(first) == 50
    assert position == (1, 50, 120, 1, 3)
    second, position = await table(client, page=2)
    assert len(second) == 50
    assert position == (51, 100, 120, 2, 3)
    last, position = await table(client, page=3)
    assert len(last) == 20
    assert position == (101, 120, 120, 3, 3)
    assert sorted(first + second + last) == targets
    # A page past the end (the table shrank since the link was made) shows the last one.
    beyond, position = await table(client, page=9)
    assert beyond == last
    assert position == (101, 120, 120, 3, 3)
    # The page the browser opens shows the same first page, without waiting for a poll.
    home = await client.get("/", params={"kind": "influencer"})
    assert ROW.findall(home.text) == first


async def test_the_filter_finds_targets_by_part_of_their_name_in_any_letter_case(
    client: AsyncClient,
) -> None:
    await add(client, POST, ["CxYQJO8xuC6", "cxyqjo8xuc6", "AbCdEf12345"])
    await add(client, INFLUENCER, ["natgeo", "nat_100", "nasa"])

    posts, _ = await table(client, kind="post", q="XYQ")
    assert sorted(posts) == ["CxYQJO8xuC6", "cxyqjo8xuc6"]
    profiles, position = await table(client, q="@NAT")
    assert sorted(profiles) == ["nat_100", "natgeo"]
    assert position is None
    # LIKE's wildcards are searched for as themselves.
    assert (await table(client, q="%"))[0] == []
    assert (await table(client, q="_1"))[0] == ["nat_100"]
    found = await client.get("/ui/targets/rows", params={"kind": "influencer", "q": "nat"})
    # One page: its count alone, no buttons.
    assert re.search(r'data-page-number="1">2 profiles</span>', found.text)
    assert "Next</button>" not in found.text
    response = await client.get("/ui/targets/rows", params={"kind": "influencer", "q": "zzz"})
    assert "Nothing matches this filter" in response.text
    assert "pager" not in response.text


async def test_the_table_filters_by_tag_and_status_and_shows_tags_and_health(
    client: AsyncClient, sessions: Sessions
) -> None:
    await add(client, INFLUENCER, ["natgeo", "nasa"], tags=["brand-x", "space"])
    await add(client, INFLUENCER, ["bbcnews"])
    listed = (await client.get(f"{INFLUENCER.prefix}/tasks")).json()["data"]
    ids = {task["username"]: task["task_id"] for task in listed}
    paused = await client.post(f"{INFLUENCER.prefix}/pause_task/{ids['nasa']}")
    assert paused.status_code == 200, paused.text
    async with sessions.begin() as session:
        await session.execute(
            update(Task)
            .where(Task.id == ids["bbcnews"])
            .values(health=TaskHealth.UNAVAILABLE, consecutive_failures=2, last_error="<not found>")
        )

    assert sorted((await table(client, tag="brand-x"))[0]) == ["nasa", "natgeo"]
    assert (await table(client, tag="brand-x", status="paused"))[0] == ["nasa"]
    assert (await table(client, tag="nobody-has-it"))[0] == []

    page = (await client.get("/ui/targets/rows", params={"kind": "influencer"})).text
    natgeo = page[page.index('data-target="natgeo"') :].split("</tr>")[0]
    assert re.findall(r'class="tag"[^>]*>([^<]+)<', natgeo) == ["brand-x", "space"]
    assert 'class="badge pending"' in natgeo
    bbc = page[page.index('data-target="bbcnews"') :].split("</tr>")[0]
    assert 'class="badge unavailable" title="&lt;not found&gt;"' in bbc
    assert "2 failed" in bbc
    # The tag filter offers the tags in use.
    home = (await client.get("/", params={"kind": "influencer"})).text
    assert re.findall(
        r'<option value="([^"]+)"[^>]*>\1</option>',
        home.split('id="filter-tag"')[1].split("</select>")[0],
    ) == ["brand-x", "space"]


async def test_a_page_number_below_one_is_refused(client: AsyncClient) -> None:
    response = await client.get("/ui/targets/rows", params={"kind": "influencer", "page": 0})
    assert response.status_code == 422
