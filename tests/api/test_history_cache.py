"""The history read-through cache: hits, misses, TTL, expiry, the collector's invalidation."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from redis.asyncio import Redis

from shared.redis_keys import RedisKeys
from shared.repositories.history import HistoryReads
from shared.settings import Settings
from tests.api.support import (
    INFLUENCER,
    POST,
    Sessions,
    add_api_key,
    add_influencer_points,
    add_post_points,
    assert_error,
    create_task,
    learn_user_id,
    running_app,
)

START = datetime(2026, 11, 1, tzinfo=UTC)
USER_ID = 25025320
POST_CODE = "CxYQJO8xuC6"
USER_HISTORY = f"{INFLUENCER.prefix}/user_history"
VIDEO_HISTORY = f"{POST.prefix}/video_history"


async def followers(client: AsyncClient, path: str) -> list[int]:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return [point["follower_count"] for point in response.json()["data"]["history"]]


async def likes(client: AsyncClient, path: str) -> list[int]:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return [point["like_count"] for point in response.json()["data"]["history"]]


async def cache_counts(client: AsyncClient, kind: str) -> dict[str, float]:
    text = (await client.get("/metrics")).text
    counts = {}
    for result in ("hit", "miss", "error"):
        line = f'api_history_cache_total{{kind="{kind}",result="{result}"}} '
        found = [row for row in text.splitlines() if row.startswith(line)]
        counts[result] = float(found[0].split()[-1]) if found else 0.0
    return counts


async def profile(client: AsyncClient, sessions: Sessions, interval: str = "1h") -> str:
    task_id = await create_task(client, INFLUENCER, "natgeo", interval)
    await learn_user_id(sessions, task_id, USER_ID, START)
    await add_influencer_points(sessions, task_id, user_id=USER_ID, start=START, count=2)
    return task_id


async def test_a_default_read_is_cached_for_the_interval_and_served_as_is(
    client: AsyncClient, sessions: Sessions, redis: Redis, keys: RedisKeys
) -> None:
    task_id = await profile(client, sessions, interval="30m")
    first = await client.get(f"{USER_HISTORY}/{USER_ID}")
    key = keys.influencer_history(USER_ID)

    assert await redis.get(key) == first.content
    assert 1790 <= await redis.ttl(key) <= 1800
    # A row written behind the cache's back (no invalidation) stays unseen until the entry goes.
    await add_influencer_points(
        sessions, task_id, user_id=USER_ID, start=START + timedelta(days=1), count=1
    )
    second = await client.get(f"{USER_HISTORY}/{USER_ID}")
    assert second.content == first.content
    assert await cache_counts(client, "influencer") == {"hit": 1.0, "miss": 1.0, "error": 0.0}


async def test_reads_by_username_share_the_entry_keyed_by_id(
    client: AsyncClient, sessions: Sessions, redis: Redis, keys: RedisKeys
) -> None:
    await profile(client, sessions)
    by_name = await client.get(f"{USER_HISTORY}/natgeo")
    assert await redis.get(keys.influencer_history(USER_ID)) == by_name.content
    by_id = await client.get(f"{USER_HISTORY}/{USER_ID}")
    assert by_id.content == by_name.content
    assert await cache_counts(client, "influencer") == {"hit": 1.0, "miss": 1.0, "error": 0.0}


async def test_the_collectors_delete_makes_the_next_read_fresh(
    client: AsyncClient, sessions: Sessions, redis: Redis, keys: RedisKeys
) -> None:
    task_id = await profile(client, sessions)
    assert await followers(client, f"{USER_HISTORY}/{USER_ID}") == [1001, 1000]
    await add_influencer_points(
        sessions, task_id, user_id=USER_ID, start=START + timedelta(days=1), count=1
    )
    await redis.delete(keys.influencer_history(USER_ID))  # what the collector does after a write
    assert await followers(client, f"{USER_HISTORY}/natgeo") == [1000, 1001, 1000]


async def test_an_expired_entry_is_read_again_from_mysql(
    client: AsyncClient, sessions: Sessions, redis: Redis, keys: RedisKeys
) -> None:
    task_id = await create_task(client, POST, POST_CODE, "30s")
    await add_post_points(sessions, task_id, post_code=POST_CODE, start=START, count=1)
    assert await likes(client, f"{VIDEO_HISTORY}/{POST_CODE}") == [500]
    key = keys.post_history(POST_CODE)
    assert 20 <= await redis.ttl(key) <= 30
    await add_post_points(
        sessions, task_id, post_code=POST_CODE, start=START + timedelta(days=1), count=1
    )
    assert await likes(client, f"{VIDEO_HISTORY}/{POST_CODE}") == [500]  # still cached

    await redis.pexpire(key, 1)  # the TTL running out, without waiting 30 s
    await asyncio.sleep(0.01)

    assert await likes(client, f"{VIDEO_HISTORY}/{POST_CODE}") == [500, 500]
    assert await cache_counts(client, "post") == {"hit": 1.0, "miss": 2.0, "error": 0.0}


async def test_other_views_bypass_the_cache(
    client: AsyncClient, sessions: Sessions, redis: Redis, keys: RedisKeys
) -> None:
    await profile(client, sessions)
    await redis.set(keys.influencer_history(USER_ID), b'{"stale": true}')
    for query in ("limit=1", "since=2026-01-01T00:00:00Z", "until=2030-01-01T00:00:00Z"):
        assert (await followers(client, f"{USER_HISTORY}/{USER_ID}?{query}"))[0] == 1001
    assert await redis.get(keys.influencer_history(USER_ID)) == b'{"stale": true}'


async def test_an_uncollected_profile_is_not_cached(
    client: AsyncClient, redis: Redis, keys: RedisKeys
) -> None:
    await create_task(client, INFLUENCER, "natgeo")
    assert await followers(client, f"{USER_HISTORY}/natgeo") == []
    assert [key async for key in redis.scan_iter(match=f"{keys.prefix}:history:*")] == []


async def test_a_read_racing_a_collector_write_does_not_cache_what_it_read_before_it(
    client: AsyncClient,
    sessions: Sessions,
    redis: Redis,
    keys: RedisKeys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    task_id = await create_task(client, POST, POST_CODE, "1h")
    await add_post_points(sessions, task_id, post_code=POST_CODE, start=START, count=1)
    read_rows = HistoryReads.points_json

    async def read_then_collector_writes(self: HistoryReads, *args: Any, **kwargs: Any) -> bytes:
        rows = await read_rows(self, *args, **kwargs)
        # The collector commits a newer row and deletes the cache entry while the API's
        # answer, read a moment earlier, is still on its way to Redis.
        await add_post_points(
            sessions, task_id, post_code=POST_CODE, start=START + timedelta(days=1), count=1
        )
        await redis.delete(keys.post_history(POST_CODE))
        return rows

    monkeypatch.setattr(HistoryReads, "points_json", read_then_collector_writes)
    assert await likes(client, f"{VIDEO_HISTORY}/{POST_CODE}") == [500]
    monkeypatch.setattr(HistoryReads, "points_json", read_rows)

    assert await redis.get(keys.post_history(POST_CODE)) is None
    assert await likes(client, f"{VIDEO_HISTORY}/{POST_CODE}") == [500, 500]


async def test_a_lease_left_by_another_read_counts_as_a_miss(
    client: AsyncClient, sessions: Sessions, redis: Redis, keys: RedisKeys
) -> None:
    task_id = await create_task(client, POST, POST_CODE, "1h")
    await add_post_points(sessions, task_id, post_code=POST_CODE, start=START, count=1)
    await redis.set(keys.post_history(POST_CODE), b"lease:someone-else", px=5000)

    assert await likes(client, f"{VIDEO_HISTORY}/{POST_CODE}") == [500]
    # The other read still holds the lease, so this one answered without filling the key.
    assert await redis.get(keys.post_history(POST_CODE)) == b"lease:someone-else"


async def test_a_hit_is_answered_as_the_route_answers_it(
    client: AsyncClient, sessions: Sessions
) -> None:
    await profile(client, sessions)
    path = f"{USER_HISTORY}/{USER_ID}"
    missed = await client.get(path)
    hit = await client.get(path)
    assert await cache_counts(client, "influencer") == {"hit": 1.0, "miss": 1.0, "error": 0.0}

    assert hit.content == missed.content
    for header in ("content-type", "content-length"):
        assert hit.headers[header] == missed.headers[header]
    assert hit.headers["x-request-id"] != missed.headers["x-request-id"]
    metrics = (await client.get("/metrics")).text
    route = f"{USER_HISTORY}/{{user_id}}"
    assert f'api_requests_total{{method="GET",route="{route}",status="200"}} 2.0' in metrics


async def test_a_hit_still_needs_a_key_and_takes_its_token(
    settings: Settings, sessions: Sessions
) -> None:
    async with running_app(settings.model_copy(update={"api_auth": "required"})) as guarded:
        key = {"X-API-Key": await add_api_key(sessions)}
        task_id = await create_task(guarded, POST, POST_CODE, headers=key)
        await add_post_points(sessions, task_id, post_code=POST_CODE, start=START, count=1)
        path = f"{VIDEO_HISTORY}/{POST_CODE}"
        assert (await guarded.get(path, headers=key)).status_code == 200  # fills the cache

        assert_error(await guarded.get(path), 401, "missing_api_key")
        hit = await guarded.get(path, headers=key)
        assert hit.status_code == 200
        assert await cache_counts(guarded, "post") == {"hit": 1.0, "miss": 1.0, "error": 0.0}
        assert int(hit.headers["x-ratelimit-remaining"]) < int(hit.headers["x-ratelimit-limit"])


async def test_a_path_that_names_no_cache_key_gets_the_routes_answer(
    client: AsyncClient, sessions: Sessions
) -> None:
    await profile(client, sessions)
    too_long = await client.get(f"{USER_HISTORY}/{'9' * 5000}")
    assert_error(too_long, 422, "validation_error")
    bad_code = await client.get(f"{VIDEO_HISTORY}/not*a*code")
    assert_error(bad_code, 422, "validation_error")
