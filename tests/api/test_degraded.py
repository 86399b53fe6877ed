"""With Redis down, reads fall back to MySQL and pausing says 503; with MySQL down, a clear 503."""

from datetime import UTC, datetime

from redis.asyncio import Redis
from structlog.testing import capture_logs

from shared.models import TaskStatus
from shared.redis_keys import RedisKeys
from shared.repositories.tasks import TaskRepository
from shared.settings import Settings
from tests.api.support import (
    DEAD_DATABASE_URL,
    DEAD_REDIS_URL,
    INFLUENCER,
    POST,
    Kind,
    Sessions,
    add_post_points,
    assert_error,
    create_task,
    running_app,
)

START = datetime(2026, 11, 1, tzinfo=UTC)


async def status_of(sessions: Sessions, task_id: str) -> TaskStatus:
    async with sessions() as session:
        task = await TaskRepository(session).get(task_id)
    assert task is not None
    return task.status


async def test_without_redis_history_is_read_from_mysql_with_a_warning(
    settings: Settings, sessions: Sessions
) -> None:
    no_redis = settings.model_copy(update={"redis_url": DEAD_REDIS_URL})
    async with running_app(no_redis) as client:
        task_id = await create_task(client, POST, "CxYQJO8xuC6")
        await add_post_points(sessions, task_id, post_code="CxYQJO8xuC6", start=START, count=3)
        with capture_logs() as logs:
            response = await client.get(f"{POST.prefix}/video_history/CxYQJO8xuC6")
        metrics = (await client.get("/metrics")).text

    assert response.status_code == 200
    assert [point["like_count"] for point in response.json()["data"]["history"]] == [502, 501, 500]
    warnings = [log for log in logs if log["event"] == "api.history_cache_unavailable"]
    # One warning: after the failed read, the request does not try to write the cache.
    assert [log["log_level"] for log in warnings] == ["warning"]
    assert 'api_history_cache_total{kind="post",result="error"} 1.0' in metrics


async def test_without_redis_pause_and_resume_are_503_and_change_nothing(
    settings: Settings, sessions: Sessions, kind: Kind
) -> None:
    no_redis = settings.model_copy(update={"redis_url": DEAD_REDIS_URL})
    async with running_app(no_redis) as client:
        task_id = await create_task(client, kind)
        error = assert_error(
            await client.post(f"{kind.prefix}/pause_task/{task_id}"), 503, "redis_unavailable"
        )
        assert "retry" in error["message"]
        assert await status_of(sessions, task_id) is TaskStatus.ACTIVE

        async with sessions.begin() as session:
            task = await TaskRepository(session).get(task_id)
            assert task is not None
            task.status = TaskStatus.PAUSED
        assert_error(
            await client.post(f"{kind.prefix}/resume_task/{task_id}"), 503, "redis_unavailable"
        )
        assert await status_of(sessions, task_id) is TaskStatus.PAUSED


async def test_without_redis_stop_still_stops(settings: Settings, sessions: Sessions) -> None:
    no_redis = settings.model_copy(update={"redis_url": DEAD_REDIS_URL})
    async with running_app(no_redis) as client:
        task_id = await create_task(client, INFLUENCER)
        with capture_logs() as logs:
            response = await client.post(
                f"{INFLUENCER.prefix}/stop_tasks", json={"task_ids": [task_id]}
            )
    assert response.json()["data"]["deleted_task_ids"] == [task_id]
    assert await status_of(sessions, task_id) is TaskStatus.STOPPED
    assert "api.pause_flags_kept" in [log["event"] for log in logs]


async def test_without_mysql_reads_are_a_clear_503(
    settings: Settings, redis: Redis, keys: RedisKeys
) -> None:
    no_mysql = settings.model_copy(update={"database_url": DEAD_DATABASE_URL})
    async with running_app(no_mysql) as client:
        for path in (
            f"{INFLUENCER.prefix}/tasks",
            f"{INFLUENCER.prefix}/user_history/natgeo",
            f"{POST.prefix}/video_history/CxYQJO8xuC6",
            f"{POST.prefix}/task_status/00000000-0000-4000-8000-000000000000",
        ):
            error = assert_error(await client.get(path), 503, "database_unavailable")
            assert "retry" in error["message"]
        create = await client.post(
            f"{POST.prefix}/create_monitor_task",
            json={"post_url": "https://www.instagram.com/p/CxYQJO8xuC6/", "interval": "1h"},
        )
        assert_error(create, 503, "database_unavailable")

        # A view already in the cache is still served by id: it needs no MySQL.
        cached = b'{"status_code":200,"success":true,"data":{"username":"natgeo","history":[]}}'
        await redis.set(keys.influencer_history(42), cached)
        response = await client.get(f"{INFLUENCER.prefix}/user_history/42")
        assert (response.status_code, response.content) == (200, cached)
