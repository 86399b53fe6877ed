"""track_posts on influencer tasks: set on create, shown in answers and lists, changed by a
restart, refused where it means nothing; engagement stays null without it."""

from datetime import UTC, datetime, timedelta

from httpx import AsyncClient

from shared.models import PostSample, PostSampleItem, Task
from tests.api.support import (
    INFLUENCER,
    INFLUENCER_PREFIX,
    POST,
    Sessions,
    assert_error,
    create_task,
)

SLOT = datetime(2026, 12, 1, 12, tzinfo=UTC)


async def create(client: AsyncClient, **body: object) -> dict[str, object]:
    response = await client.post(
        f"{INFLUENCER_PREFIX}/create_monitor_task",
        json={"username": "natgeo", "interval": "1h", **body},
    )
    assert response.status_code == 201, response.text
    data: dict[str, object] = response.json()["data"]
    return data


async def stored(sessions: Sessions, task_id: object) -> Task:
    async with sessions() as session:
        task = await session.get(Task, task_id)
    assert task is not None
    return task


async def test_track_posts_is_kept_answered_and_listed(
    client: AsyncClient, sessions: Sessions
) -> None:
    created = await create(client, track_posts=True)

    assert created["track_posts"] is True
    assert (await stored(sessions, created["task_id"])).track_posts is True
    listed = (await client.get(f"{INFLUENCER_PREFIX}/tasks")).json()["data"]
    assert [task["track_posts"] for task in listed] == [True]


async def test_a_restart_takes_the_new_track_posts(client: AsyncClient, sessions: Sessions) -> None:
    created = await create(client, track_posts=True)
    await client.post(f"{INFLUENCER_PREFIX}/stop_tasks", json={"task_ids": [created["task_id"]]})

    restarted = await create(client)

    assert restarted["task_id"] == created["task_id"]
    assert restarted["track_posts"] is False
    assert (await stored(sessions, created["task_id"])).track_posts is False


async def test_track_posts_must_be_a_boolean_and_only_for_influencers(
    client: AsyncClient,
) -> None:
    for not_a_boolean in ("sometimes", 0, "true"):
        response = await client.post(
            f"{INFLUENCER_PREFIX}/create_monitor_task",
            json={"username": "natgeo", "interval": "1h", "track_posts": not_a_boolean},
        )
        assert_error(response, 422, "validation_error")
    response = await client.post(
        f"{POST.prefix}/create_monitor_task",
        json={**POST.create_body("CxYQJO8xuC6"), "track_posts": True},
    )
    assert_error(response, 422, "validation_error")


async def test_engagement_is_null_without_track_posts_even_with_old_samples(
    client: AsyncClient, sessions: Sessions
) -> None:
    task_id = await create_task(client, INFLUENCER, "natgeo")
    async with sessions.begin() as session:
        session.add(
            PostSample(task_id=task_id, scheduled_for=SLOT, sampled_at=SLOT, follower_count=1_000)
        )
        await session.flush()
        session.add(
            PostSampleItem(
                task_id=task_id,
                scheduled_for=SLOT,
                position=0,
                post_code="DAbc",
                published_at=SLOT - timedelta(days=1),
                is_pinned=False,
                like_count=10,
                comment_count=1,
            )
        )

    response = await client.get(f"{INFLUENCER_PREFIX}/user_stats/natgeo")

    assert response.status_code == 200
    assert response.json()["data"]["engagement"] is None


async def test_bulk_create_and_update_task_set_track_posts(
    client: AsyncClient, sessions: Sessions
) -> None:
    bulk = await client.post(
        f"{INFLUENCER_PREFIX}/create_monitor_tasks",
        json={"usernames": ["natgeo", "nasa"], "interval": "1h", "track_posts": True},
    )
    assert bulk.status_code == 200, bulk.text
    created = bulk.json()["data"]["created"]
    assert [task["track_posts"] for task in created] == [True, True]
    assert all([(await stored(sessions, task["task_id"])).track_posts for task in created])

    task_id = created[0]["task_id"]
    updated = await client.post(
        f"{INFLUENCER_PREFIX}/update_task/{task_id}", json={"track_posts": False}
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["data"]["track_posts"] is False
    assert not (await stored(sessions, task_id)).track_posts

    post_id = await create_task(client, POST)
    refused = await client.post(f"{POST.prefix}/update_task/{post_id}", json={"track_posts": True})
    error = assert_error(refused, 422, "validation_error")
    assert "track_posts" in str(error)
