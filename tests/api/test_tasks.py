"""Task management through the API, for both kinds: create, list, status, pause, resume, stop."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from httpx import AsyncClient
from redis.asyncio import Redis

from shared.models import Task, TaskHealth, TaskStatus
from shared.redis_keys import RedisKeys
from shared.repositories.tasks import TaskRepository
from tests.api.support import (
    INFLUENCER,
    OTHER,
    POST,
    Kind,
    Sessions,
    add_post_points,
    assert_error,
    create_task,
)

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


async def stored_task(sessions: Sessions, task_id: str) -> Task:
    async with sessions() as session:
        task = await TaskRepository(session).get(task_id)
    assert task is not None
    return task


async def test_create_answers_201_with_an_active_task_due_now(
    client: AsyncClient, kind: Kind, sessions: Sessions
) -> None:
    before = datetime.now(UTC)
    response = await client.post(
        f"{kind.prefix}/create_monitor_task", json=kind.create_body(kind.sample_target, "30m")
    )
    assert response.status_code == 201
    body = response.json()
    task_id = body["data"]["task_id"]
    assert body == {
        "status_code": 201,
        "success": True,
        "data": {
            "task_id": task_id,
            kind.target_field: kind.sample_target,
            "status": "active",
            "interval_seconds": 1800,
            **kind.default_options,
            "tags": [],
            "warnings": [],
        },
    }
    task = await stored_task(sessions, task_id)
    assert task.task_type is kind.task_type
    assert before <= task.next_run_at <= datetime.now(UTC)


async def test_usernames_are_normalised(client: AsyncClient) -> None:
    response = await client.post(
        f"{INFLUENCER.prefix}/create_monitor_task",
        json={"username": "  @NatGeo ", "interval": "7d"},
    )
    assert response.status_code == 201
    assert response.json()["data"]["username"] == "natgeo"
    assert response.json()["data"]["interval_seconds"] == 604800


@pytest.mark.parametrize(
    "post_url",
    [
        "https://www.instagram.com/reel/CxYQJO8xuC6/?igsh=abc",
        "instagram.com/p/CxYQJO8xuC6",
        "https://www.instagram.com/natgeo/p/CxYQJO8xuC6/",
    ],
)
async def test_post_urls_give_their_shortcode(client: AsyncClient, post_url: str) -> None:
    response = await client.post(
        f"{POST.prefix}/create_monitor_task", json={"post_url": post_url, "interval": "30s"}
    )
    assert response.status_code == 201
    assert response.json()["data"]["post_code"] == "CxYQJO8xuC6"
    assert response.json()["data"]["interval_seconds"] == 30


async def test_creating_a_monitored_target_again_is_a_conflict(
    client: AsyncClient, kind: Kind
) -> None:
    task_id = await create_task(client, kind)
    create = f"{kind.prefix}/create_monitor_task"
    error = assert_error(
        await client.post(create, json=kind.create_body(kind.sample_target, "1d")),
        409,
        "already_monitored",
    )
    assert error["details"] == {"task_id": task_id, "status": "active"}
    assert task_id in error["message"]

    await client.post(f"{kind.prefix}/pause_task/{task_id}")
    error = assert_error(
        await client.post(create, json=kind.create_body(kind.sample_target)),
        409,
        "already_monitored",
    )
    assert error["details"] == {"task_id": task_id, "status": "paused"}


async def test_creating_a_stopped_target_restarts_it_with_the_new_interval(
    client: AsyncClient, kind: Kind, sessions: Sessions, redis: Redis, keys: RedisKeys
) -> None:
    task_id = await create_task(client, kind, interval="1h")
    await client.post(f"{kind.prefix}/stop_tasks", json={"task_ids": [task_id]})
    # As if Redis had been down when the task was stopped: its flag survived.
    await redis.set(keys.pause(task_id), b"1")
    before = datetime.now(UTC)

    response = await client.post(
        f"{kind.prefix}/create_monitor_task", json=kind.create_body(kind.sample_target, "1d")
    )

    assert response.status_code == 201
    assert response.json()["data"] == {
        "task_id": task_id,
        kind.target_field: kind.sample_target,
        "status": "active",
        "interval_seconds": 86400,
        **kind.default_options,
        "tags": [],
        "warnings": [],
    }
    task = await stored_task(sessions, task_id)
    assert (task.status, task.interval_seconds) == (TaskStatus.ACTIVE, 86400)
    assert task.next_run_at >= before
    assert not await redis.exists(keys.pause(task_id))


async def test_concurrent_creates_of_one_target_make_one_task(
    client: AsyncClient, kind: Kind
) -> None:
    create = f"{kind.prefix}/create_monitor_task"
    body = kind.create_body(kind.sample_target)
    responses = await asyncio.gather(*(client.post(create, json=body) for _ in range(5)))

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201, 409, 409, 409, 409]
    created = next(r for r in responses if r.status_code == 201).json()["data"]["task_id"]
    conflicts = [r.json()["error"]["details"]["task_id"] for r in responses if r.status_code == 409]
    assert conflicts == [created] * 4
    listed = (await client.get(f"{kind.prefix}/tasks")).json()["data"]
    assert [task["task_id"] for task in listed] == [created]


async def test_tasks_lists_every_task_of_its_kind_oldest_first(
    client: AsyncClient, kind: Kind
) -> None:
    other = OTHER[kind.task_type]
    first = await create_task(client, kind, "first" if kind is INFLUENCER else "AAAfirst")
    second = await create_task(client, kind, "second" if kind is INFLUENCER else "BBBsecond")
    await create_task(client, other)
    await client.post(f"{kind.prefix}/stop_tasks", json={"task_ids": [second]})

    response = await client.get(f"{kind.prefix}/tasks")

    assert response.status_code == 200
    listed = response.json()["data"]
    assert [(task["task_id"], task["status"]) for task in listed] == [
        (first, "active"),
        (second, "stopped"),
    ]
    assert set(listed[0]) == {
        "task_id",
        kind.target_field,
        "status",
        "interval_seconds",
        "created_at",
        "updated_at",
        *kind.default_options,
        "health",
        "tags",
    }
    assert listed[0]["created_at"].endswith("Z")
    assert listed[0]["health"]["state"] == "pending"


async def test_tasks_is_empty_when_there_are_none(client: AsyncClient, kind: Kind) -> None:
    response = await client.get(f"{kind.prefix}/tasks")
    assert response.json() == {"status_code": 200, "success": True, "data": []}


PENDING = {
    "state": "pending",
    "last_run_at": None,
    "last_success_at": None,
    "consecutive_failures": 0,
    "last_error": None,
}


async def test_task_status(client: AsyncClient, kind: Kind) -> None:
    task_id = await create_task(client, kind)
    response = await client.get(f"{kind.prefix}/task_status/{task_id}")
    body = response.json()
    assert (body["status_code"], body["success"]) == (200, True)
    assert (body["data"]["status"], body["data"]["health"]) == ("active", PENDING)
    assert body["data"]["tags"] == []
    await client.post(f"{kind.prefix}/pause_task/{task_id}")
    response = await client.get(f"{kind.prefix}/task_status/{task_id.upper()}")
    data = response.json()["data"]
    assert (data["status"], data["health"], data["tags"]) == ("paused", PENDING, [])


async def test_task_status_and_tasks_show_what_the_collections_recorded(
    client: AsyncClient, kind: Kind, sessions: Sessions
) -> None:
    task_id = await create_task(client, kind)
    succeeded = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    failed = succeeded + timedelta(hours=1)
    async with sessions.begin() as session:
        tasks = TaskRepository(session)
        await tasks.record_success(task_id, now=succeeded)
        await tasks.record_failure(
            task_id,
            now=failed,
            error="TikHub /v1: HTTP 404: User not found.",
            health=TaskHealth.UNAVAILABLE,
            consecutive_failures=1,
        )

    status = (await client.get(f"{kind.prefix}/task_status/{task_id}")).json()["data"]
    [listed] = (await client.get(f"{kind.prefix}/tasks")).json()["data"]

    expected = {
        "state": "unavailable",
        "last_run_at": "2026-11-21T13:00:00Z",
        "last_success_at": "2026-11-21T12:00:00Z",
        "consecutive_failures": 1,
        "last_error": "TikHub /v1: HTTP 404: User not found.",
    }
    assert status["health"] == listed["health"] == expected


@pytest.mark.parametrize("action", ["task_status", "pause_task", "resume_task"])
async def test_unknown_ids_and_tasks_of_the_other_kind_are_not_found(
    client: AsyncClient, kind: Kind, action: str
) -> None:
    other_task = await create_task(client, OTHER[kind.task_type])
    method = client.get if action == "task_status" else client.post
    for task_id in (UNKNOWN_ID, other_task):
        error = assert_error(
            await method(f"{kind.prefix}/{action}/{task_id}"), 404, "task_not_found"
        )
        assert task_id in error["message"]
    # The other kind's task is untouched.
    status = await client.get(f"{OTHER[kind.task_type].prefix}/task_status/{other_task}")
    assert status.json()["data"]["status"] == "active"


@pytest.mark.parametrize("action", ["task_status", "pause_task", "resume_task"])
async def test_malformed_task_ids_are_refused(client: AsyncClient, kind: Kind, action: str) -> None:
    method = client.get if action == "task_status" else client.post
    error = assert_error(
        await method(f"{kind.prefix}/{action}/not-a-uuid"), 422, "validation_error"
    )
    assert "task_id" in error["message"]
    assert error["details"][0]["field"] == "task_id"


async def test_pause_sets_the_flag_and_the_status_and_can_be_repeated(
    client: AsyncClient, kind: Kind, sessions: Sessions, redis: Redis, keys: RedisKeys
) -> None:
    task_id = await create_task(client, kind)
    for _ in range(2):
        response = await client.post(f"{kind.prefix}/pause_task/{task_id}")
        assert response.json() == {
            "status_code": 200,
            "success": True,
            "data": {"task_id": task_id, "status": "paused"},
        }
        assert await redis.exists(keys.pause(task_id))
        assert (await stored_task(sessions, task_id)).status is TaskStatus.PAUSED


async def test_resume_clears_the_flag_and_makes_the_task_due_now(
    client: AsyncClient, kind: Kind, sessions: Sessions, redis: Redis, keys: RedisKeys
) -> None:
    task_id = await create_task(client, kind)
    await client.post(f"{kind.prefix}/pause_task/{task_id}")
    async with sessions.begin() as session:
        task = await TaskRepository(session).get(task_id)
        assert task is not None
        task.next_run_at = datetime.now(UTC) + timedelta(days=3)
    before = datetime.now(UTC)

    response = await client.post(f"{kind.prefix}/resume_task/{task_id}")

    assert response.json() == {
        "status_code": 200,
        "success": True,
        "data": {"task_id": task_id, "status": "active"},
    }
    assert not await redis.exists(keys.pause(task_id))
    task = await stored_task(sessions, task_id)
    assert task.status is TaskStatus.ACTIVE
    assert before <= task.next_run_at <= datetime.now(UTC)


async def test_resuming_an_active_task_keeps_its_schedule(
    client: AsyncClient, kind: Kind, sessions: Sessions
) -> None:
    task_id = await create_task(client, kind)
    scheduled = (await stored_task(sessions, task_id)).next_run_at
    response = await client.post(f"{kind.prefix}/resume_task/{task_id}")
    assert response.json()["data"] == {"task_id": task_id, "status": "active"}
    assert (await stored_task(sessions, task_id)).next_run_at == scheduled


@pytest.mark.parametrize("action", ["pause_task", "resume_task"])
async def test_a_stopped_task_cannot_be_paused_or_resumed(
    client: AsyncClient, kind: Kind, action: str, sessions: Sessions
) -> None:
    task_id = await create_task(client, kind)
    await client.post(f"{kind.prefix}/stop_tasks", json={"task_ids": [task_id]})
    error = assert_error(
        await client.post(f"{kind.prefix}/{action}/{task_id}"), 409, "task_stopped"
    )
    assert "create the monitor task again" in error["message"]
    assert (await stored_task(sessions, task_id)).status is TaskStatus.STOPPED


async def test_stop_tasks_stops_and_reports_what_it_did_not_find(
    client: AsyncClient, kind: Kind, sessions: Sessions, redis: Redis, keys: RedisKeys
) -> None:
    paused = await create_task(client, kind, "paused1" if kind is INFLUENCER else "PAUSED1")
    active = await create_task(client, kind)
    untouched = await create_task(client, kind, "keepme" if kind is INFLUENCER else "KEEPME1")
    other_kind = await create_task(client, OTHER[kind.task_type])
    await client.post(f"{kind.prefix}/pause_task/{paused}")

    response = await client.post(
        f"{kind.prefix}/stop_tasks",
        json={"task_ids": [paused, UNKNOWN_ID, active, other_kind, paused.upper()]},
    )

    assert response.json() == {
        "status_code": 200,
        "success": True,
        "data": {
            "deleted_task_ids": [paused, active],
            "not_found_task_ids": [UNKNOWN_ID, other_kind],
        },
    }
    for task_id in (paused, active):
        assert (await stored_task(sessions, task_id)).status is TaskStatus.STOPPED
    assert not await redis.exists(keys.pause(paused))
    assert (await stored_task(sessions, untouched)).status is TaskStatus.ACTIVE
    assert (await stored_task(sessions, other_kind)).status is TaskStatus.ACTIVE

    again = await client.post(f"{kind.prefix}/stop_tasks", json={"task_ids": [active]})
    assert again.json()["data"] == {"deleted_task_ids": [active], "not_found_task_ids": []}


async def test_stopping_keeps_the_history_readable(client: AsyncClient, sessions: Sessions) -> None:
    task_id = await create_task(client, POST)
    await add_post_points(
        sessions, task_id, post_code="CxYQJO8xuC6", start=datetime(2026, 1, 1, tzinfo=UTC), count=2
    )
    await client.post(f"{POST.prefix}/stop_tasks", json={"task_ids": [task_id]})
    response = await client.get(f"{POST.prefix}/video_history/CxYQJO8xuC6")
    assert len(response.json()["data"]["history"]) == 2


async def test_concurrent_creates_of_a_stopped_target_restart_it_once(
    client: AsyncClient, kind: Kind
) -> None:
    task_id = await create_task(client, kind)
    await client.post(f"{kind.prefix}/stop_tasks", json={"task_ids": [task_id]})
    create = f"{kind.prefix}/create_monitor_task"
    body = kind.create_body(kind.sample_target, "1d")
    responses = await asyncio.gather(*(client.post(create, json=body) for _ in range(4)))

    assert sorted(response.status_code for response in responses) == [201, 409, 409, 409]
    ids = {
        response.json()["data"]["task_id"]
        if response.status_code == 201
        else response.json()["error"]["details"]["task_id"]
        for response in responses
    }
    assert ids == {task_id}
