"""Tags on tasks, update_task, and the filtered, paged task lists, for both kinds."""

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from httpx import AsyncClient
from sqlalchemy import update

from shared.models import Task
from tests.api.support import OTHER, Kind, Sessions, assert_error, create_task

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


async def create_tagged(client: AsyncClient, kind: Kind, target: str, tags: list[str]) -> str:
    body = {**kind.create_body(target), "tags": tags}
    response = await client.post(f"{kind.prefix}/create_monitor_task", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["task_id"])


async def set_next_run(sessions: Sessions, task_id: str, at: datetime) -> None:
    async with sessions.begin() as session:
        await session.execute(update(Task).where(Task.id == task_id).values(next_run_at=at))


async def next_run(sessions: Sessions, task_id: str) -> datetime:
    async with sessions() as session:
        task = await session.get(Task, task_id)
    assert task is not None
    return task.next_run_at


async def test_tags_given_at_creation_are_lower_cased_sorted_and_shown_everywhere(
    client: AsyncClient, kind: Kind
) -> None:
    response = await client.post(
        f"{kind.prefix}/create_monitor_task",
        json={**kind.create_body(kind.sample_target), "tags": ["Q4:Launch", "brand-x", "BRAND-X"]},
    )

    assert response.status_code == 201
    created = response.json()["data"]
    assert created["tags"] == ["brand-x", "q4:launch"]
    status = await client.get(f"{kind.prefix}/task_status/{created['task_id']}")
    data = status.json()["data"]
    assert (data["status"], data["tags"]) == ("active", ["brand-x", "q4:launch"])
    listed = (await client.get(f"{kind.prefix}/tasks")).json()["data"]
    assert [task["tags"] for task in listed] == [["brand-x", "q4:launch"]]


@pytest.mark.parametrize(
    ("tags", "says"),
    [
        (["brand x"], "may contain only letters, digits, '_', '-', '.' and ':'"),
        (["émoji"], "may contain only letters, digits"),
        ([""], "a tag cannot be empty"),
        (["x" * 51], "at most 50 characters"),
        ([f"t{n}" for n in range(21)], "at most 20 items, not 21"),
        ("brand-x", "valid list"),
    ],
)
async def test_bad_tags_are_refused_with_what_is_wrong(
    client: AsyncClient, kind: Kind, tags: Any, says: str
) -> None:
    body = {**kind.create_body(kind.sample_target), "tags": tags}
    error = assert_error(
        await client.post(f"{kind.prefix}/create_monitor_task", json=body), 422, "validation_error"
    )
    assert says in error["message"]
    assert error["details"][0]["field"].startswith("tags")
    assert (await client.get(f"{kind.prefix}/tasks")).json()["data"] == []


async def test_update_task_replaces_the_tags_and_answers_the_task(
    client: AsyncClient, kind: Kind
) -> None:
    task_id = await create_tagged(client, kind, kind.sample_target, ["old"])

    response = await client.post(
        f"{kind.prefix}/update_task/{task_id}", json={"tags": ["New", "second"]}
    )

    assert response.status_code == 200
    updated = response.json()["data"]
    # As task_status answers, with the target and the interval.
    assert {name: updated.pop(name) for name in ("health", "usage", "warnings")} == {
        "health": (await client.get(f"{kind.prefix}/task_status/{task_id}")).json()["data"][
            "health"
        ],
        "usage": {
            "calls_today": 0,
            "cost_usd_today": 0.0,
            "projected_calls_per_day": 24.0,
            "projected_cost_usd_per_day": 0.024,  # 24 calls at 0.001 USD, either kind
        },
        "warnings": [],
    }
    assert updated == {
        "task_id": task_id,
        kind.target_field: kind.sample_target,
        "status": "active",
        "interval_seconds": 3600,
        "tags": ["new", "second"],
        **kind.default_options,
    }
    cleared = await client.post(f"{kind.prefix}/update_task/{task_id}", json={"tags": []})
    assert cleared.json()["data"]["tags"] == []
    status = await client.get(f"{kind.prefix}/task_status/{task_id}")
    assert status.json()["data"]["tags"] == []


async def test_a_shorter_interval_brings_the_next_slot_forward_to_the_new_grid(
    client: AsyncClient, kind: Kind, sessions: Sessions
) -> None:
    task_id = await create_task(client, kind, interval="1d")
    # The daily slot ran ten minutes ago; the next one is a day after it.
    last_slot = datetime.now(UTC) - timedelta(minutes=10)
    await set_next_run(sessions, task_id, last_slot + timedelta(days=1))

    response = await client.post(f"{kind.prefix}/update_task/{task_id}", json={"interval": "30m"})

    assert response.status_code == 200
    assert response.json()["data"]["interval_seconds"] == 1800
    assert await next_run(sessions, task_id) == last_slot + timedelta(minutes=30)


async def test_a_shorter_interval_whose_slot_has_passed_runs_at_once(
    client: AsyncClient, kind: Kind, sessions: Sessions
) -> None:
    task_id = await create_task(client, kind, interval="7d")
    await set_next_run(sessions, task_id, datetime.now(UTC) + timedelta(days=6))
    before = datetime.now(UTC)

    await client.post(f"{kind.prefix}/update_task/{task_id}", json={"interval": "1h"})

    assert before <= await next_run(sessions, task_id) <= datetime.now(UTC)


async def test_a_longer_interval_keeps_the_slot_already_planned(
    client: AsyncClient, kind: Kind, sessions: Sessions
) -> None:
    task_id = await create_task(client, kind, interval="30m")
    planned = datetime.now(UTC) + timedelta(minutes=20)
    await set_next_run(sessions, task_id, planned)

    response = await client.post(
        f"{kind.prefix}/update_task/{task_id}", json={"interval": "1d", "tags": ["slow"]}
    )

    assert response.json()["data"]["interval_seconds"] == 86400
    assert response.json()["data"]["tags"] == ["slow"]
    assert await next_run(sessions, task_id) == planned


async def test_a_paused_task_can_be_updated_and_stays_paused(
    client: AsyncClient, kind: Kind
) -> None:
    task_id = await create_task(client, kind)
    await client.post(f"{kind.prefix}/pause_task/{task_id}")

    response = await client.post(f"{kind.prefix}/update_task/{task_id}", json={"interval": "1d"})

    assert response.json()["data"]["status"] == "paused"
    assert response.json()["data"]["interval_seconds"] == 86400


async def test_update_task_refuses_what_it_cannot_do(client: AsyncClient, kind: Kind) -> None:
    task_id = await create_task(client, kind)
    other = await create_task(client, OTHER[kind.task_type])
    update_url = f"{kind.prefix}/update_task"

    nothing = assert_error(
        await client.post(f"{update_url}/{task_id}", json={}), 422, "validation_error"
    )
    assert "give an interval, tags or track_posts" in nothing["message"]
    assert_error(
        await client.post(f"{update_url}/{task_id}", json={"interval": "2h"}),
        422,
        "validation_error",
    )
    assert_error(
        await client.post(f"{update_url}/{other}", json={"tags": ["x"]}), 404, "task_not_found"
    )
    assert_error(
        await client.post(f"{update_url}/{UNKNOWN_ID}", json={"tags": ["x"]}), 404, "task_not_found"
    )
    await client.post(f"{kind.prefix}/stop_tasks", json={"task_ids": [task_id]})
    assert_error(
        await client.post(f"{update_url}/{task_id}", json={"tags": ["x"]}), 409, "task_stopped"
    )


async def test_tasks_filter_by_status_and_tag(client: AsyncClient, kind: Kind) -> None:
    first, second, third = kind.targets(3)
    tagged_active = await create_tagged(client, kind, first, ["brand-x"])
    tagged_paused = await create_tagged(client, kind, second, ["brand-x", "other"])
    untagged = await create_tagged(client, kind, third, [])
    await client.post(f"{kind.prefix}/pause_task/{tagged_paused}")

    async def listed(**params: str) -> list[str]:
        response = await client.get(f"{kind.prefix}/tasks", params=params)
        assert response.status_code == 200, response.text
        assert "link" not in response.headers
        return [task["task_id"] for task in response.json()["data"]]

    assert await listed(tag="brand-x") == [tagged_active, tagged_paused]
    assert await listed(tag="BRAND-X", status="paused") == [tagged_paused]
    assert await listed(status="active") == [tagged_active, untagged]
    assert await listed(tag="nobody") == []
    assert_error(await client.get(f"{kind.prefix}/tasks?status=gone"), 422, "validation_error")
    assert_error(await client.get(f"{kind.prefix}/tasks?tag=a%20b"), 422, "validation_error")


async def test_paging_through_the_tasks_sees_each_exactly_once_in_order(
    client: AsyncClient, kind: Kind
) -> None:
    # Created together, so several share a creation time: the id orders them.
    response = await client.post(
        f"{kind.prefix}/create_monitor_tasks",
        json={kind.bulk_inputs_field: kind.bulk_inputs(kind.targets(7)), "interval": "1h"},
    )
    assert response.status_code == 200, response.text
    everything = [
        task["task_id"] for task in (await client.get(f"{kind.prefix}/tasks")).json()["data"]
    ]
    assert len(everything) == 7

    seen: list[str] = []
    url: str | None = f"{kind.prefix}/tasks?limit=3"
    pages = 0
    while url is not None:
        page = await client.get(url)
        assert page.status_code == 200, page.text
        seen += [task["task_id"] for task in page.json()["data"]]
        pages += 1
        link = page.headers.get("link")
        if link is None:
            url = None
        else:
            assert link.endswith('>; rel="next"')
            url = link[1 : link.index(">")]
            assert parse_qs(urlsplit(url).query)["limit"] == ["3"]
    assert seen == everything
    assert pages == 3


async def test_pages_keep_their_filters_and_end_without_a_link(
    client: AsyncClient, kind: Kind
) -> None:
    names = kind.targets(3)
    for name in names:
        await create_tagged(client, kind, name, ["mine"])
    await create_tagged(client, kind, kind.targets(4)[3], ["theirs"])

    first = await client.get(f"{kind.prefix}/tasks", params={"tag": "mine", "limit": 2})
    link = first.headers["link"]
    second = await client.get(link[1 : link.index(">")])

    assert [task[kind.target_field] for task in first.json()["data"]] == names[:2]
    assert [task[kind.target_field] for task in second.json()["data"]] == names[2:]
    assert "link" not in second.headers
    exact = await client.get(f"{kind.prefix}/tasks", params={"tag": "mine", "limit": 3})
    assert len(exact.json()["data"]) == 3
    assert "link" not in exact.headers


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=1001", "limit=ten", "limit=5&cursor=garbage", "limit=5&cursor=WyJ4Il0"],
)
async def test_bad_paging_parameters_are_refused(
    client: AsyncClient, kind: Kind, query: str
) -> None:
    assert_error(await client.get(f"{kind.prefix}/tasks?{query}"), 422, "validation_error")
