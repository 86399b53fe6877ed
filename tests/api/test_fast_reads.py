"""History reads answered before routing (the cached default view, and other limits from the
pages): same answers, same keys and limits, one charge."""

import asyncio
from dataclasses import replace

import pytest
from httpx import AsyncClient, Response
from redis.asyncio import Redis
from structlog.testing import capture_logs

from services.api.app import create_app
from services.api.page_reader import PageReader
from shared.db import create_engine, create_session_factory
from shared.redis_keys import RedisKeys
from shared.settings import Settings
from tests.api.support import (
    DEAD_DATABASE_URL,
    DEAD_REDIS_URL,
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
    serving,
)
from tests.api.test_auth import revoke
from tests.api.test_history_cache import POST_CODE, START, USER_ID, cache_counts

USER_HISTORY = f"{INFLUENCER.prefix}/user_history/{USER_ID}"
VIDEO_HISTORY = f"{POST.prefix}/video_history/{POST_CODE}"
# Three requests per key, then 429; a refill of one token per 100 s never comes during a test.
LIMITED = {"api_auth": "required", "api_rate_limit_per_second": 0.01, "api_rate_limit_burst": 3}


@pytest.fixture
def limited(settings: Settings) -> Settings:
    return settings.model_copy(update=LIMITED)


async def seed(
    client: AsyncClient, sessions: Sessions, headers: dict[str, str] | None = None
) -> None:
    """A collected profile and post, two points each (created with `headers`, e.g. a key)."""
    task_id = await create_task(client, INFLUENCER, "natgeo", headers=headers)
    await learn_user_id(sessions, task_id, USER_ID, START)
    await add_influencer_points(sessions, task_id, user_id=USER_ID, start=START, count=2)
    task_id = await create_task(client, POST, POST_CODE, headers=headers)
    await add_post_points(sessions, task_id, post_code=POST_CODE, start=START, count=2)


def remaining(response: Response) -> int:
    return int(response.headers["x-ratelimit-remaining"])


def request_count(metrics: str, route: str, status: int) -> float:
    line = f'api_requests_total{{method="GET",route="{route}",status="{status}"}} '
    found = [row for row in metrics.splitlines() if row.startswith(line)]
    return float(found[0].split()[-1]) if found else 0.0


@pytest.mark.parametrize("path", [USER_HISTORY, VIDEO_HISTORY])
async def test_a_hit_answers_exactly_what_the_miss_answered(
    client: AsyncClient, sessions: Sessions, path: str
) -> None:
    await seed(client, sessions)
    miss = await client.get(path)
    hit = await client.get(path)

    assert hit.status_code == miss.status_code == 200
    assert hit.content == miss.content
    assert hit.headers["content-type"] == miss.headers["content-type"] == "application/json"
    assert hit.headers["content-length"] == miss.headers["content-length"]
    assert hit.headers["x-request-id"] != miss.headers["x-request-id"]


async def test_a_hit_is_counted_and_logged_under_its_route_template(
    client: AsyncClient, sessions: Sessions
) -> None:
    await seed(client, sessions)
    await client.get(USER_HISTORY)
    with capture_logs() as logs:
        hit = await client.get(USER_HISTORY, headers={"X-Request-ID": "poll-42"})
    metrics = (await client.get("/metrics")).text

    template = f"{INFLUENCER.prefix}/user_history/{{user_id}}"
    assert hit.headers["x-request-id"] == "poll-42"
    (line,) = [log for log in logs if log["event"] == "api.request"]
    assert line["route"] == template
    assert line["status"] == 200
    assert request_count(metrics, template, 200) == 2.0
    assert await cache_counts(client, "influencer") == {"hit": 1.0, "miss": 1.0, "error": 0.0}


async def redis_gets(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_get", {}).get("calls", 0))


@pytest.mark.parametrize("path", [USER_HISTORY, VIDEO_HISTORY])
async def test_a_miss_reads_the_key_once_then_fills_it(
    client: AsyncClient, sessions: Sessions, redis: Redis, path: str
) -> None:
    await seed(client, sessions)
    before = await redis_gets(redis)
    miss = await client.get(path)
    after = await redis_gets(redis)

    assert miss.status_code == 200
    # The shortcut's read and the GET inside the fill's compare-and-set script: the app takes
    # its lease without reading the key a second time.
    assert after - before == 2
    assert (await client.get(path)).content == miss.content


async def test_an_id_written_with_leading_zeros_reads_the_same_entry(
    client: AsyncClient, sessions: Sessions
) -> None:
    await seed(client, sessions)
    first = await client.get(USER_HISTORY)
    assert (await client.get(f"{USER_HISTORY.removesuffix(str(USER_ID))}00{USER_ID}")).content == (
        first.content
    )
    assert await cache_counts(client, "influencer") == {"hit": 1.0, "miss": 1.0, "error": 0.0}


@pytest.mark.parametrize(
    ("suffix", "status"),
    [
        ("/", 307),  # not the route: the app redirects to it
        ("?limit=2", 200),  # any query string is the app's to validate
        ("?limit=0", 422),
    ],
)
async def test_a_path_or_query_the_app_must_judge_is_left_to_it(
    client: AsyncClient,
    sessions: Sessions,
    redis: Redis,
    keys: RedisKeys,
    suffix: str,
    status: int,
) -> None:
    await seed(client, sessions)
    await redis.set(keys.influencer_history(USER_ID), b'{"cached": true}')
    response = await client.get(f"{USER_HISTORY}{suffix}")
    assert response.status_code == status
    assert b"cached" not in response.content


@pytest.mark.parametrize(
    "path",
    [
        f"{INFLUENCER.prefix}/user_history/{'0' * 57}{USER_ID}",  # 65 characters
        f"{INFLUENCER.prefix}/user_history/{'9' * 5000}",  # past Python's int() digit limit
        f"{POST.prefix}/video_history/{'C' * 65}",
    ],
    ids=["65-digit-id", "5000-digit-id", "65-character-code"],
)
async def test_an_overlong_target_is_refused_by_the_app_never_a_500(
    client: AsyncClient, sessions: Sessions, path: str
) -> None:
    await seed(client, sessions)
    await client.get(USER_HISTORY)  # cached
    assert_error(await client.get(path), 422, "validation_error")


async def test_an_id_padded_to_the_longest_target_is_still_the_id(
    client: AsyncClient, sessions: Sessions
) -> None:
    await seed(client, sessions)
    cached = await client.get(USER_HISTORY)
    padded = await client.get(f"{INFLUENCER.prefix}/user_history/{'0' * 56}{USER_ID}")
    assert padded.content == cached.content
    assert await cache_counts(client, "influencer") == {"hit": 1.0, "miss": 1.0, "error": 0.0}


async def test_a_cached_view_still_wants_a_valid_key(limited: Settings, sessions: Sessions) -> None:
    async with running_app(limited) as client:
        key = await add_api_key(sessions)
        headers = {"X-API-Key": key}
        await seed(client, sessions, headers)
        assert (await client.get(USER_HISTORY, headers=headers)).status_code == 200  # cached now

        assert_error(await client.get(USER_HISTORY), 401, "missing_api_key")
        assert_error(
            await client.get(USER_HISTORY, headers={"X-API-Key": key + "x"}),
            401,
            "invalid_api_key",
        )
        assert await asyncio.to_thread(revoke, limited, "client") == 0
        assert_error(await client.get(USER_HISTORY, headers=headers), 401, "invalid_api_key")


async def test_hits_and_misses_each_take_one_token_and_the_limit_holds_for_hits(
    limited: Settings, sessions: Sessions, settings: Settings
) -> None:
    unlimited = settings.model_copy(update={"api_auth": "required"})
    key = await add_api_key(sessions)
    headers = {"X-API-Key": key}
    bearer = {"Authorization": f"Bearer {key}"}
    async with running_app(unlimited) as client:
        await seed(client, sessions, headers)
    async with running_app(limited) as client:
        # A fresh budget of 3: the first read checks the key in MySQL and misses the cache, the
        # second hits (by the bearer form), the third misses for the post; then 429 on a hit.
        first = await client.get(USER_HISTORY, headers=headers)
        second = await client.get(USER_HISTORY, headers=bearer)
        third = await client.get(VIDEO_HISTORY, headers=headers)
        refused = await client.get(USER_HISTORY, headers=headers)
        counts = await cache_counts(client, "influencer")

    assert [first.status_code, second.status_code, third.status_code] == [200, 200, 200]
    assert second.content == first.content
    assert [remaining(first), remaining(second), remaining(third)] == [2, 1, 0]
    assert_error(refused, 429, "rate_limited")
    assert 99 <= int(refused.headers["retry-after"]) <= 100
    assert remaining(refused) == 0
    assert counts == {"hit": 1.0, "miss": 1.0, "error": 0.0}


async def test_without_redis_a_default_view_is_read_from_mysql_after_one_warning(
    settings: Settings, sessions: Sessions
) -> None:
    no_redis = settings.model_copy(update={"redis_url": DEAD_REDIS_URL})
    async with running_app(no_redis) as client:
        await seed(client, sessions)
        with capture_logs() as logs:
            response = await client.get(USER_HISTORY)
        counts = await cache_counts(client, "influencer")

    assert [point["follower_count"] for point in response.json()["data"]["history"]] == [
        1001,
        1000,
    ]
    warnings = [log["event"] for log in logs if log["log_level"] == "warning"]
    assert warnings == ["api.history_cache_unavailable"]
    assert counts == {"hit": 0.0, "miss": 0.0, "error": 1.0}


async def test_without_redis_a_keyed_read_asks_mysql_for_the_key_once(
    settings: Settings, sessions: Sessions
) -> None:
    no_redis = settings.model_copy(update={"redis_url": DEAD_REDIS_URL, "api_auth": "required"})
    key = await add_api_key(sessions)
    async with running_app(no_redis) as client:
        await seed(client, sessions, {"X-API-Key": key})
        with capture_logs() as logs:
            allowed = await client.get(USER_HISTORY, headers={"X-API-Key": key})
            refused = await client.get(USER_HISTORY, headers={"X-API-Key": key + "x"})

    assert allowed.status_code == 200
    assert [point["follower_count"] for point in allowed.json()["data"]["history"]] == [1001, 1000]
    assert_error(refused, 401, "invalid_api_key")
    warnings = [log["event"] for log in logs if log["log_level"] == "warning"]
    assert warnings == ["api.history_cache_unavailable", "api.rate_limit_unavailable"] * 2


# Any other query string makes the app answer the same points itself.
THROUGH_THE_APP = "&since=2000-01-01T00:00:00Z"


@pytest.mark.parametrize(
    "path",
    [USER_HISTORY, VIDEO_HISTORY, f"{POST.prefix}/video_history/{POST_CODE.swapcase()}"],
    ids=["influencer", "post", "post-in-another-case"],
)
@pytest.mark.parametrize("limit", [1, 2, 1000])
async def test_a_limit_read_from_the_pages_answers_what_the_app_answers(
    client: AsyncClient, sessions: Sessions, path: str, limit: int
) -> None:
    await seed(client, sessions)
    fast = await client.get(f"{path}?limit={limit}")
    slow = await client.get(f"{path}?limit={limit}{THROUGH_THE_APP}")
    assert fast.status_code == slow.status_code == 200
    assert fast.content == slow.content
    assert len(fast.json()["data"]["history"]) == min(limit, 2)
    assert fast.headers["content-type"] == "application/json"


async def test_a_limit_read_needs_no_session_and_is_counted_under_its_route(
    settings: Settings, sessions: Sessions
) -> None:
    app = create_app(settings)
    async with serving(app) as client:
        await seed(client, sessions)
        before = await client.get(f"{USER_HISTORY}?limit=2")
        # The app's own sessions now fail; the page reader has connections of its own.
        dead = create_engine(settings.model_copy(update={"database_url": DEAD_DATABASE_URL}))
        app.state.runtime = replace(app.state.runtime, sessions=create_session_factory(dead))
        try:
            after = await client.get(f"{USER_HISTORY}?limit=2")
            through_the_app = await client.get(f"{USER_HISTORY}?limit=2{THROUGH_THE_APP}")
            metrics = (await client.get("/metrics")).text
        finally:
            await dead.dispose()
    assert after.status_code == 200
    assert after.content == before.content
    assert_error(through_the_app, 503, "database_unavailable")
    route = f"{INFLUENCER.prefix}/user_history/{{user_id}}"
    assert request_count(metrics, route, 200) == 2


@pytest.mark.parametrize(
    ("path", "status", "history"),
    [
        (f"{INFLUENCER.prefix}/user_history/{USER_ID + 1}?limit=5", 404, None),
        (f"{INFLUENCER.prefix}/user_history/natgeo?limit=5", 200, [1001, 1000]),
        (f"{POST.prefix}/video_history/CxYQJO8xuC7?limit=5", 404, None),
        (f"{POST.prefix}/video_history/DaNoPoints1?limit=5", 200, []),
        (f"{USER_HISTORY}?limit=1001", 422, None),
        (f"{USER_HISTORY}?limit=0005", 200, [1001, 1000]),
    ],
    ids=["unknown-id", "username", "unknown-post", "post-without-points", "too-many", "zeros"],
)
async def test_a_limit_read_the_pages_cannot_answer_is_left_to_the_app(
    client: AsyncClient,
    sessions: Sessions,
    path: str,
    status: int,
    history: list[int] | None,
) -> None:
    await seed(client, sessions)
    await create_task(client, POST, "DaNoPoints1")
    response = await client.get(path)
    assert response.status_code == status, response.text
    if history is not None:
        points = response.json()["data"]["history"]
        assert [p.get("follower_count", p.get("like_count")) for p in points] == history


async def test_when_the_page_reader_fails_the_app_answers_after_a_warning(
    settings: Settings, sessions: Sessions
) -> None:
    app = create_app(settings)
    async with serving(app) as client:
        await seed(client, sessions)
        expected = await client.get(f"{USER_HISTORY}?limit=2{THROUGH_THE_APP}")
        dead_settings = settings.model_copy(update={"database_url": DEAD_DATABASE_URL})
        dead = create_engine(dead_settings)
        reader = await PageReader.open(dead, dead_settings)
        app.state.runtime = replace(app.state.runtime, page_reader=reader)
        try:
            with capture_logs() as logs:
                response = await client.get(f"{USER_HISTORY}?limit=2")
        finally:
            await reader.close()
            await dead.dispose()
    assert response.status_code == 200
    assert response.content == expected.content
    assert [log["event"] for log in logs if log["log_level"] == "warning"] == [
        "api.page_read_failed"
    ]


async def test_a_limit_read_wants_a_valid_key_and_takes_one_token(
    limited: Settings, sessions: Sessions, settings: Settings
) -> None:
    key = await add_api_key(sessions)
    headers = {"X-API-Key": key}
    async with running_app(settings.model_copy(update={"api_auth": "required"})) as client:
        await seed(client, sessions, headers)
    async with running_app(limited) as client:
        missing = await client.get(f"{USER_HISTORY}?limit=2")
        wrong = await client.get(f"{USER_HISTORY}?limit=2", headers={"X-API-Key": key + "x"})
        # A fresh budget of 3: the first read checks the key in MySQL, the others are vouched.
        answers = [
            await client.get(f"{path}?limit=2", headers=headers)
            for path in (USER_HISTORY, VIDEO_HISTORY, USER_HISTORY)
        ]
        refused = await client.get(f"{USER_HISTORY}?limit=2", headers=headers)

    assert_error(missing, 401, "missing_api_key")
    assert_error(wrong, 401, "invalid_api_key")
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert [remaining(answer) for answer in answers] == [2, 1, 0]
    assert_error(refused, 429, "rate_limited")
