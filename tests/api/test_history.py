"""History reads: by id or username, newest first, limit and time window, source, 404s."""

from datetime import UTC, datetime, timedelta

import pytest
from httpx import AsyncClient
from redis.asyncio import Redis

from shared.models import Source
from shared.redis_keys import RedisKeys
from tests.api.support import (
    INFLUENCER,
    POST,
    Sessions,
    add_influencer_points,
    add_post_points,
    assert_error,
    create_task,
    learn_user_id,
)

START = datetime(2026, 11, 1, tzinfo=UTC)
USER_ID = 787132
USER_HISTORY = f"{INFLUENCER.prefix}/user_history"
VIDEO_HISTORY = f"{POST.prefix}/video_history"


async def profile_with_points(client: AsyncClient, sessions: Sessions, count: int) -> str:
    task_id = await create_task(client, INFLUENCER, "natgeo")
    await learn_user_id(sessions, task_id, USER_ID, START)
    await add_influencer_points(sessions, task_id, user_id=USER_ID, start=START, count=count)
    return task_id


async def test_user_history_by_id_and_by_username_newest_first(
    client: AsyncClient, sessions: Sessions
) -> None:
    await profile_with_points(client, sessions, 3)
    by_id = await client.get(f"{USER_HISTORY}/{USER_ID}")
    by_name = await client.get(f"{USER_HISTORY}/NatGeo")

    assert by_id.status_code == by_name.status_code == 200
    assert by_id.headers["content-type"] == "application/json"
    assert by_id.json() == by_name.json()
    assert by_id.json() == {
        "status_code": 200,
        "success": True,
        "data": {
            "username": "natgeo",
            "history": [
                {
                    "follower_count": 1000 + n,
                    "following_count": 10,
                    "post_count": None,
                    "bio": f"bio {n}",
                    "recorded_at": (START + timedelta(hours=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "source": "live",
                }
                for n in (2, 1, 0)
            ],
        },
    }


async def test_fallback_points_say_so(client: AsyncClient, sessions: Sessions) -> None:
    task_id = await profile_with_points(client, sessions, 1)
    later = START + timedelta(days=1)
    await add_influencer_points(
        sessions, task_id, user_id=USER_ID, start=later, count=1, source=Source.FALLBACK
    )
    history = (await client.get(f"{USER_HISTORY}/{USER_ID}")).json()["data"]["history"]
    assert [point["source"] for point in history] == ["fallback", "live"]


async def test_an_all_digit_username_is_found_when_no_id_matches(client: AsyncClient) -> None:
    await create_task(client, INFLUENCER, "1234567")
    response = await client.get(f"{USER_HISTORY}/1234567")
    assert response.json()["data"] == {"username": "1234567", "history": []}


async def test_a_profile_not_collected_yet_has_an_empty_history(client: AsyncClient) -> None:
    await create_task(client, INFLUENCER, "natgeo")
    response = await client.get(f"{USER_HISTORY}/natgeo")
    assert response.status_code == 200
    assert response.json()["data"] == {"username": "natgeo", "history": []}


async def test_a_known_post_without_rows_has_an_empty_history(client: AsyncClient) -> None:
    await create_task(client, POST, "CxYQJO8xuC6")
    response = await client.get(f"{VIDEO_HISTORY}/CxYQJO8xuC6")
    assert response.json() == {
        "status_code": 200,
        "success": True,
        "data": {"post_code": "CxYQJO8xuC6", "history": []},
    }


async def test_video_history_newest_first_with_null_plays(
    client: AsyncClient, sessions: Sessions
) -> None:
    task_id = await create_task(client, POST, "CxYQJO8xuC6")
    await add_post_points(sessions, task_id, post_code="CxYQJO8xuC6", start=START, count=2)
    response = await client.get(f"{VIDEO_HISTORY}/CxYQJO8xuC6")
    assert response.json()["data"] == {
        "post_code": "CxYQJO8xuC6",
        "history": [
            {
                "like_count": 500 + n,
                "comment_count": 7,
                "play_count": None,
                "recorded_at": (START + timedelta(hours=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "source": "live",
            }
            for n in (1, 0)
        ],
    }


async def test_posts_differing_only_in_letter_case_are_two_tasks_with_two_histories(
    client: AsyncClient, sessions: Sessions, redis: Redis, keys: RedisKeys
) -> None:
    upper = await create_task(client, POST, "CxYQJO8xuC6")
    lower = await create_task(client, POST, "cxyqjo8xuc6")
    await add_post_points(sessions, upper, post_code="CxYQJO8xuC6", start=START, count=2)
    await add_post_points(sessions, lower, post_code="cxyqjo8xuc6", start=START, count=1)

    by_upper = (await client.get(f"{VIDEO_HISTORY}/CxYQJO8xuC6")).json()["data"]
    by_lower = (await client.get(f"{VIDEO_HISTORY}/cxyqjo8xuc6")).json()["data"]
    third = await client.get(f"{VIDEO_HISTORY}/CXYQJO8XUC6")

    assert upper != lower
    assert (by_upper["post_code"], len(by_upper["history"])) == ("CxYQJO8xuC6", 2)
    assert (by_lower["post_code"], len(by_lower["history"])) == ("cxyqjo8xuc6", 1)
    assert_error(third, 404, "task_not_found")
    # A spelling nobody monitors leaves no cached view behind (nothing would ever delete it).
    assert await redis.get(keys.post_history("CXYQJO8XUC6")) is None
    listed = (await client.get(f"{POST.prefix}/tasks")).json()["data"]
    assert sorted(task["post_code"] for task in listed) == ["CxYQJO8xuC6", "cxyqjo8xuc6"]


@pytest.mark.parametrize("path", [f"{USER_HISTORY}/999", f"{USER_HISTORY}/nobody"])
async def test_unknown_profiles_are_not_found(client: AsyncClient, path: str) -> None:
    assert_error(await client.get(path), 404, "task_not_found")


async def test_history_never_crosses_kinds(client: AsyncClient) -> None:
    # A post task whose code looks like a username is not a profile, and the reverse.
    await create_task(client, POST, "natgeo")
    await create_task(client, INFLUENCER, "cxyqjo8xuc6")
    assert_error(await client.get(f"{USER_HISTORY}/natgeo"), 404, "task_not_found")
    assert_error(await client.get(f"{VIDEO_HISTORY}/cxyqjo8xuc6"), 404, "task_not_found")


async def test_invalid_targets_are_refused(client: AsyncClient) -> None:
    error = assert_error(await client.get(f"{USER_HISTORY}/bad%20name"), 422, "validation_error")
    assert "user_id" in error["message"]
    error = assert_error(await client.get(f"{VIDEO_HISTORY}/Cx%21YQ"), 422, "validation_error")
    assert "post_code" in error["message"]
    error = assert_error(await client.get(f"{USER_HISTORY}/nat..geo"), 422, "validation_error")
    assert "two '.' in a row" in error["message"]


async def test_too_long_targets_are_refused_in_one_wording(client: AsyncClient) -> None:
    for path, limit in ((f"{USER_HISTORY}/{'a' * 31}", 30), (f"{VIDEO_HISTORY}/{'a' * 65}", 64)):
        error = assert_error(await client.get(path), 422, "validation_error")
        assert f"must have at most {limit} characters, not {limit + 1}" in error["message"]


async def test_limit_since_and_until_select_points(client: AsyncClient, sessions: Sessions) -> None:
    await profile_with_points(client, sessions, 10)

    async def followers(query: str) -> list[int]:
        response = await client.get(f"{USER_HISTORY}/{USER_ID}?{query}")
        assert response.status_code == 200, response.text
        return [point["follower_count"] for point in response.json()["data"]["history"]]

    assert await followers("limit=3") == [1009, 1008, 1007]
    assert await followers("since=2026-11-01T07:00:00Z") == [1009, 1008, 1007]
    assert await followers("until=2026-11-01T01:00:00Z") == [1001, 1000]
    # A time with an offset is converted to UTC.
    assert await followers("since=2026-11-01T03:00:00Z&until=2026-11-01T06:00:00%2B01:00") == [
        1005,
        1004,
        1003,
    ]
    # The same offset typed unencoded: its '+' arrives as a space.
    assert await followers("since=2026-11-01T03:00:00Z&until=2026-11-01T06:00:00+01:00") == [
        1005,
        1004,
        1003,
    ]
    # Bounds past MySQL's DATETIME range select what any bound that far would.
    assert await followers("since=0580-06-16T09:05:48.74%2B00:36&limit=1") == [1009]
    assert await followers("until=0999-01-01T00:00:00Z") == []
    assert await followers("until=9999-12-31T23:00:00-05:00&limit=1") == [1009]
    assert await followers("since=2026-11-01T02:00:00Z&until=2026-11-01T08:00:00Z&limit=2") == [
        1008,
        1007,
    ]
    assert await followers("since=2026-12-01T00:00:00Z") == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("since=yesterday", "since"),
        ("since=0.5", "since"),
        ("since=2026-11-01", "since"),
        ("until=2026-11-01T00:00:00", "until"),
        ("until=2026-13-01T00:00:00Z", "until"),
        ("since=2026-11-02T00:00:00Z&until=2026-11-01T00:00:00Z", "since"),
        ("granularity=week", "granularity"),
        ("granularity=Hour", "granularity"),
    ],
)
async def test_invalid_windows_are_refused(
    client: AsyncClient, sessions: Sessions, query: str, field: str
) -> None:
    await create_task(client, POST, "CxYQJO8xuC6")
    for path in (f"{VIDEO_HISTORY}/CxYQJO8xuC6", f"{USER_HISTORY}/natgeo"):
        error = assert_error(await client.get(f"{path}?{query}"), 422, "validation_error")
        assert field in error["message"]
        assert error["details"][0]["field"] == field


def at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_hourly_and_daily_views_keep_each_buckets_last_counted_point(
    client: AsyncClient, sessions: Sessions
) -> None:
    # Followers 1000 + n every 20 minutes from 00:00 (n = 0…9, the last at 03:00); a fallback at
    # 03:40 in the last of those hours, and one alone in the 05:00 hour.
    task_id = await create_task(client, INFLUENCER, "natgeo")
    await learn_user_id(sessions, task_id, USER_ID, START)
    step = timedelta(minutes=20)
    await add_influencer_points(
        sessions, task_id, user_id=USER_ID, start=START, count=10, step=step
    )
    for moment in (START + timedelta(hours=3, minutes=40), START + timedelta(hours=5, minutes=10)):
        await add_influencer_points(
            sessions, task_id, user_id=USER_ID, start=moment, count=1, source=Source.FALLBACK
        )

    response = await client.get(f"{USER_HISTORY}/{USER_ID}?granularity=hour")
    assert response.status_code == 200, response.text
    assert response.json()["data"]["history"] == [
        {
            "follower_count": 1000 + n,
            "following_count": 10,
            "post_count": None,
            "bio": f"bio {n}",
            "recorded_at": at(START + n * step),
            "source": "live",
        }
        for n in (9, 8, 5, 2)
    ]

    async def followers(query: str) -> list[int]:
        response = await client.get(f"{USER_HISTORY}/natgeo?{query}")
        assert response.status_code == 200, response.text
        return [point["follower_count"] for point in response.json()["data"]["history"]]

    assert await followers("granularity=day") == [1009]
    assert await followers("granularity=hour&limit=2") == [1009, 1008]
    # A bucket is in when its hour overlaps the window, though its point may lie outside.
    assert await followers("granularity=hour&since=2026-11-01T01:30:00Z") == [1009, 1008, 1005]
    assert await followers("granularity=hour&until=2026-11-01T01:30:00Z") == [1005, 1002]
    assert await followers(
        "granularity=hour&since=2026-11-01T01:59:59Z&until=2026-11-01T02:00:00Z"
    ) == [1008, 1005]
    assert await followers("granularity=day&since=2026-11-01T12:00:00Z") == [1009]
    assert await followers("granularity=day&since=2026-11-02T00:00:00Z") == []
    # Raw is the default, fallback points included.
    assert await followers("granularity=raw&limit=3") == [1000, 1000, 1009]


async def test_daily_view_of_a_post(client: AsyncClient, sessions: Sessions) -> None:
    task_id = await create_task(client, POST, "CxYQJO8xuC6")
    step = timedelta(hours=8)
    # Likes 500 + n at 00:00, 08:00 and 16:00 of 1 November, then 00:00 and 08:00 of the 2nd.
    await add_post_points(
        sessions, task_id, post_code="CxYQJO8xuC6", start=START, count=5, step=step
    )
    response = await client.get(f"{VIDEO_HISTORY}/CxYQJO8xuC6?granularity=day")
    assert response.json()["data"] == {
        "post_code": "CxYQJO8xuC6",
        "history": [
            {
                "like_count": 500 + n,
                "comment_count": 7,
                "play_count": None,
                "recorded_at": at(START + n * step),
                "source": "live",
            }
            for n in (4, 2)
        ],
    }


async def test_bucketed_views_are_never_served_stale_from_the_cache(
    client: AsyncClient, sessions: Sessions
) -> None:
    task_id = await profile_with_points(client, sessions, 1)
    default = await client.get(f"{USER_HISTORY}/{USER_ID}")
    assert (await client.get(f"{USER_HISTORY}/{USER_ID}?granularity=raw")).content == (
        default.content
    )
    await client.get(f"{USER_HISTORY}/{USER_ID}?granularity=hour")
    # Stored without the collector, which would also clear the default view's cached copy.
    later = START + timedelta(hours=1)
    await add_influencer_points(sessions, task_id, user_id=USER_ID, start=later, count=1)

    for granularity in ("hour", "day"):
        response = await client.get(f"{USER_HISTORY}/{USER_ID}?granularity={granularity}")
        history = response.json()["data"]["history"]
        assert history[0]["recorded_at"] == at(later)
    assert (await client.get(f"{USER_HISTORY}/{USER_ID}")).content == default.content
