"""Bulk work through the API, for both kinds: create_monitor_tasks, and pause_tasks,
resume_tasks and stop_tasks by ids or by tag."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from redis.asyncio import Redis

from shared.models import Task, TaskStatus
from shared.redis_keys import RedisKeys
from shared.repositories.tasks import TaskRepository
from shared.settings import Settings
from tests.api.support import (
    INFLUENCER,
    OTHER,
    POST,
    Kind,
    Sessions,
    add_api_key,
    assert_error,
    create_task,
    running_app,
)

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


async def bulk_create(
    client: AsyncClient, kind: Kind, inputs: list[str], interval: str = "1h", **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        f"{kind.prefix}/create_monitor_tasks",
        json={kind.bulk_inputs_field: inputs, "interval": interval, **extra},
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def stored_tasks(sessions: Sessions, kind: Kind) -> list[Task]:
    async with sessions() as session:
        return await TaskRepository(session).list_by_type(kind.task_type)


async def test_each_input_lands_in_exactly_one_list(
    client: AsyncClient, kind: Kind, sessions: Sessions
) -> None:
    new = kind.targets(250, "new")
    active, paused, stopped = kind.targets(3, "old")
    active_id = await create_task(client, kind, active)
    paused_id = await create_task(client, kind, paused)
    stopped_id = await create_task(client, kind, stopped)
    await client.post(f"{kind.prefix}/pause_task/{paused_id}")
    await client.post(f"{kind.prefix}/stop_tasks", json={"task_ids": [stopped_id]})
    invalid = ["no..dots", "https://example.com/p/abc/", ""]
    inputs = [
        *kind.bulk_inputs(new),
        *kind.bulk_inputs(new[:20]),  # repeated
        *kind.bulk_inputs([active, paused, stopped]),
        *invalid,
        *invalid[:1],  # repeated
    ]

    before = datetime.now(UTC)
    data = await bulk_create(client, kind, inputs, "30m", tags=["Import:1"])

    created = {task[kind.target_field]: task for task in data["created"]}
    assert sorted(created) == sorted([*new, stopped])
    assert created[stopped]["task_id"] == stopped_id
    assert all(task["status"] == "active" for task in created.values())
    assert all(task["interval_seconds"] == 1800 for task in created.values())
    assert all(task["tags"] == ["import:1"] for task in created.values())
    assert data["existing"] == [
        {"input": kind.bulk_inputs([active])[0], "task_id": active_id, "status": "active"},
        {"input": kind.bulk_inputs([paused])[0], "task_id": paused_id, "status": "paused"},
    ]
    assert [item["input"] for item in data["invalid"]] == invalid
    assert all(item["message"] for item in data["invalid"])
    stored = {task.target: task for task in await stored_tasks(sessions, kind)}
    assert len(stored) == 253
    assert stored[stopped].status is TaskStatus.ACTIVE
    assert before <= stored[stopped].next_run_at <= datetime.now(UTC) + timedelta(minutes=30)
    assert stored[stopped].interval_seconds == 1800
    assert stored[paused].status is TaskStatus.PAUSED
    assert stored[active].interval_seconds == 3600  # an existing task is left as it was
    tagged = await client.get(f"{kind.prefix}/tasks", params={"tag": "import:1"})
    assert len(tagged.json()["data"]) == 251


async def test_inputs_naming_one_target_count_once(client: AsyncClient) -> None:
    data = await bulk_create(client, INFLUENCER, ["@NatGeo", "natgeo", " natgeo "])
    assert [task["username"] for task in data["created"]] == ["natgeo"]
    assert data["existing"] == data["invalid"] == []

    data = await bulk_create(
        client,
        POST,
        [
            "https://www.instagram.com/p/CxYQJO8xuC6/",
            "https://instagram.com/reel/CxYQJO8xuC6/?igsh=1",
            "https://www.instagram.com/p/cxyqjo8xuc6/",  # another post: codes are case-sensitive
        ],
    )
    assert [task["post_code"] for task in data["created"]] == ["CxYQJO8xuC6", "cxyqjo8xuc6"]


@pytest.mark.parametrize(
    ("interval", "shortest", "longest"),
    [
        ("1h", timedelta(minutes=59), timedelta(hours=1)),
        # Short intervals spread over a few seconds only.
        ("30s", timedelta(seconds=4), timedelta(seconds=5)),
    ],
)
async def test_first_collections_are_spread_over_the_first_interval(
    client: AsyncClient,
    kind: Kind,
    sessions: Sessions,
    interval: str,
    shortest: timedelta,
    longest: timedelta,
) -> None:
    before = datetime.now(UTC)
    await bulk_create(client, kind, kind.bulk_inputs(kind.targets(100)), interval)
    after = datetime.now(UTC)

    due = sorted(task.next_run_at for task in await stored_tasks(sessions, kind))
    assert before <= due[0] <= after  # the first at once
    assert shortest <= due[-1] - due[0] <= longest
    # Evenly: no tenth of the window gets much more than its share.
    tenth = (due[-1] - due[0]) / 10
    assert max(sum(1 for at in due if (at - due[0]) // tenth == n) for n in range(10)) <= 11


async def test_a_single_create_is_still_due_at_once(
    client: AsyncClient, kind: Kind, sessions: Sessions
) -> None:
    before = datetime.now(UTC)
    await bulk_create(client, kind, kind.bulk_inputs(kind.targets(1)), "7d")
    (task,) = await stored_tasks(sessions, kind)
    assert before <= task.next_run_at <= datetime.now(UTC)


async def test_concurrent_overlapping_bulk_creates_make_each_task_once(
    client: AsyncClient, kind: Kind, sessions: Sessions
) -> None:
    everyone = kind.targets(300)
    # Three requests, each overlapping the others, one of them in the reverse order.
    batches = [everyone[:200], everyone[100:], list(reversed(everyone[50:250]))]
    answers = await asyncio.gather(
        *(
            bulk_create(client, kind, kind.bulk_inputs(batch), tags=[f"batch{n}"])
            for n, batch in enumerate(batches)
        )
    )

    created = [task["task_id"] for answer in answers for task in answer["created"]]
    assert len(created) == len(set(created)) == 300
    for answer, batch in zip(answers, batches, strict=True):
        assert len(answer["created"]) + len(answer["existing"]) == len(batch)
        assert answer["invalid"] == []
        # Whoever created a target, the others name that same task.
        assert {item["task_id"] for item in answer["existing"]} <= set(created)
    stored = await stored_tasks(sessions, kind)
    assert sorted(task.target for task in stored) == everyone
    # Each task carries the tag of the request that created it, and no other.
    for n, answer in enumerate(answers):
        listed = await client.get(f"{kind.prefix}/tasks", params={"tag": f"batch{n}"})
        assert sorted(task["task_id"] for task in listed.json()["data"]) == sorted(
            task["task_id"] for task in answer["created"]
        )


async def test_bulk_create_refuses_bodies_it_cannot_take(client: AsyncClient, kind: Kind) -> None:
    url = f"{kind.prefix}/create_monitor_tasks"
    field = kind.bulk_inputs_field
    too_many = kind.bulk_inputs(kind.targets(1001))
    for body, says in [
        ({field: too_many, "interval": "1h"}, "at most 1000 items, not 1001"),
        ({field: [], "interval": "1h"}, "at least 1 item"),
        ({field: ["x"], "interval": "2h"}, "interval"),
        ({field: ["x"], "interval": "1h", "tags": ["a b"]}, "may contain only"),
        ({field: [42], "interval": "1h"}, "valid string"),
    ]:
        error = assert_error(await client.post(url, json=body), 422, "validation_error")
        assert says in error["message"]
    assert (await client.get(f"{kind.prefix}/tasks")).json()["data"] == []


async def test_a_bulk_create_is_one_request_against_the_rate_limit(
    settings: Settings, sessions: Sessions
) -> None:
    limited = settings.model_copy(
        update={
            "api_auth": "required",
            "api_rate_limit_per_second": 0.01,
            "api_rate_limit_burst": 2,
        }
    )
    key = {"X-API-Key": await add_api_key(sessions)}
    async with running_app(limited) as client:
        response = await client.post(
            f"{INFLUENCER.prefix}/create_monitor_tasks",
            json={"usernames": INFLUENCER.targets(200), "interval": "1h"},
            headers=key,
        )
        remaining = response.headers["x-ratelimit-remaining"]
    assert response.status_code == 200
    assert len(response.json()["data"]["created"]) == 200
    assert remaining == "1"


async def test_pause_and_resume_by_ids(
    client: AsyncClient, kind: Kind, sessions: Sessions, redis: Redis, keys: RedisKeys
) -> None:
    first, second, stopped = [await create_task(client, kind, t) for t in kind.targets(3)]
    other_kind = await create_task(client, OTHER[kind.task_type])
    await client.post(f"{kind.prefix}/stop_tasks", json={"task_ids": [stopped]})
    asked = [first, second, stopped, other_kind, UNKNOWN_ID, first]

    paused = await client.post(f"{kind.prefix}/pause_tasks", json={"task_ids": asked})

    assert paused.status_code == 200
    assert paused.json()["data"] == {
        "paused_task_ids": [first, second],
        "stopped_task_ids": [stopped],
        "not_found_task_ids": [other_kind, UNKNOWN_ID],
    }
    statuses = {task.id: task.status for task in await stored_tasks(sessions, kind)}
    assert statuses == {
        first: TaskStatus.PAUSED,
        second: TaskStatus.PAUSED,
        stopped: TaskStatus.STOPPED,
    }
    assert await redis.exists(keys.pause(first), keys.pause(second)) == 2
    assert not await redis.exists(keys.pause(stopped))

    before = datetime.now(UTC)
    resumed = await client.post(
        f"{kind.prefix}/resume_tasks", json={"task_ids": [first, UNKNOWN_ID]}
    )

    assert resumed.json()["data"] == {
        "resumed_task_ids": [first],
        "stopped_task_ids": [],
        "not_found_task_ids": [UNKNOWN_ID],
    }
    tasks = {task.id: task for task in await stored_tasks(sessions, kind)}
    assert tasks[first].status is TaskStatus.ACTIVE
    assert before <= tasks[first].next_run_at <= datetime.now(UTC)
    assert tasks[second].status is TaskStatus.PAUSED
    assert not await redis.exists(keys.pause(first))
    assert await redis.exists(keys.pause(second))


async def test_pause_resume_and_stop_by_tag(
    client: AsyncClient, kind: Kind, sessions: Sessions, redis: Redis, keys: RedisKeys
) -> None:
    tagged = await bulk_create(client, kind, kind.bulk_inputs(kind.targets(3, "a")), tags=["x"])
    await bulk_create(client, kind, kind.bulk_inputs(kind.targets(2, "b")), tags=["y"])
    # A task of the other kind with the same tag is not touched.
    other = OTHER[kind.task_type]
    other_data = await bulk_create(
        client, other, other.bulk_inputs(other.targets(1, "c")), tags=["x"]
    )
    # Oldest first, as the list by tag orders them.
    listed = await client.get(f"{kind.prefix}/tasks", params={"tag": "x"})
    tagged_ids = [task["task_id"] for task in listed.json()["data"]]
    assert sorted(tagged_ids) == sorted(task["task_id"] for task in tagged["created"])

    paused = await client.post(f"{kind.prefix}/pause_tasks", json={"tag": "X"})

    assert paused.json()["data"] == {
        "paused_task_ids": tagged_ids,
        "stopped_task_ids": [],
        "not_found_task_ids": [],
    }
    listed = await client.get(f"{kind.prefix}/tasks", params={"status": "paused"})
    assert [task["task_id"] for task in listed.json()["data"]] == tagged_ids
    assert await redis.exists(*(keys.pause(task_id) for task_id in tagged_ids)) == 3

    resumed = await client.post(f"{kind.prefix}/resume_tasks", json={"tag": "x"})
    assert resumed.json()["data"]["resumed_task_ids"] == tagged_ids
    assert not await redis.exists(*(keys.pause(task_id) for task_id in tagged_ids))

    stopped = await client.post(f"{kind.prefix}/stop_tasks", json={"tag": "x"})
    assert stopped.json()["data"] == {"deleted_task_ids": tagged_ids, "not_found_task_ids": []}
    statuses = {task.id: task.status for task in await stored_tasks(sessions, kind)}
    assert [statuses[task_id] for task_id in tagged_ids] == [TaskStatus.STOPPED] * 3
    assert sorted(statuses.values()).count(TaskStatus.ACTIVE) == 2
    other_status = await client.get(
        f"{other.prefix}/task_status/{other_data['created'][0]['task_id']}"
    )
    assert other_status.json()["data"]["status"] == "active"
    # Stopped tasks keep their tags: pausing by the tag now finds them stopped.
    again = await client.post(f"{kind.prefix}/pause_tasks", json={"tag": "x"})
    assert again.json()["data"]["stopped_task_ids"] == tagged_ids
    nobody = await client.post(f"{kind.prefix}/pause_tasks", json={"tag": "nobody"})
    assert nobody.json()["data"] == {
        "paused_task_ids": [],
        "stopped_task_ids": [],
        "not_found_task_ids": [],
    }


async def test_concurrent_tagging_and_actions_by_tag_all_succeed(
    client: AsyncClient, kind: Kind
) -> None:
    created = await bulk_create(client, kind, kind.bulk_inputs(kind.targets(20)), tags=["x"])
    task_ids = [task["task_id"] for task in created["created"]]
    requests = [
        *(
            client.post(f"{kind.prefix}/update_task/{task_id}", json={"tags": ["x", f"own{n}"]})
            for n, task_id in enumerate(task_ids)
        ),
        client.post(f"{kind.prefix}/pause_tasks", json={"tag": "x"}),
        client.post(f"{kind.prefix}/resume_tasks", json={"tag": "x"}),
        client.post(
            f"{kind.prefix}/create_monitor_tasks",
            json={
                kind.bulk_inputs_field: kind.bulk_inputs(kind.targets(20, "more")),
                "interval": "1h",
                "tags": ["x"],
            },
        ),
    ]

    responses = await asyncio.gather(*requests)

    assert [response.status_code for response in responses] == [200] * len(requests)
    listed = await client.get(f"{kind.prefix}/tasks", params={"tag": "x"})
    assert len(listed.json()["data"]) == 40
    for n, task_id in enumerate(task_ids):
        status = await client.get(f"{kind.prefix}/task_status/{task_id}")
        assert status.json()["data"]["tags"] == [f"own{n}", "x"]
