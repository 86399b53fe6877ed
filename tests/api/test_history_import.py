"""History imports: points from CSV or NDJSON stored as `imported`, never over a stored point,
bad lines reported by number, limits, the roll-ups and the cache kept right."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from httpx import AsyncClient
from redis.asyncio import Redis

from services.api import imports
from shared.redis_keys import RedisKeys
from shared.settings import Settings
from tests.api.support import (
    INFLUENCER,
    POST,
    Sessions,
    add_influencer_points,
    add_post_points,
    assert_error,
    create_task,
    learn_user_id,
    running_app,
)

START = datetime(2026, 11, 1, tzinfo=UTC)
USER_ID = 787132
IMPORT = f"{INFLUENCER.prefix}/user_history/natgeo/import"
HISTORY = f"{INFLUENCER.prefix}/user_history/{USER_ID}"
CSV = {"content-type": "text/csv"}
NDJSON = {"content-type": "application/x-ndjson"}


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def day(n: int) -> datetime:
    return START + timedelta(days=n)


async def profile(client: AsyncClient, sessions: Sessions) -> str:
    task_id = await create_task(client, INFLUENCER, "natgeo")
    await learn_user_id(sessions, task_id, USER_ID, START)
    return task_id


async def history(client: AsyncClient, **params: str) -> list[dict[str, object]]:
    response = await client.get(HISTORY, params={"limit": "1000", **params})
    assert response.status_code == 200, response.text
    return list(response.json()["data"]["history"])


async def test_a_csv_with_a_bad_line_imports_the_rest_as_imported_points(
    client: AsyncClient, sessions: Sessions
) -> None:
    await profile(client, sessions)
    body = (
        "recorded_at,follower_count,following_count,post_count,bio,source\r\n"
        f'{iso(day(0))},1000,10,,"Photographer, ""explorer""\nand 🌍",live\r\n'
        f"{iso(day(1))},1.2k,10,5,,live\r\n"
        f"{iso(day(2))},1020,11,5,,fallback\r\n"
    )

    response = await client.post(IMPORT, content=body.encode(), headers=CSV)

    assert response.status_code == 200, response.text
    assert response.json()["data"] == {
        "imported": 2,
        "skipped": 0,
        # The first point's bio spans lines 2 and 3: the bad point starts on line 4.
        "invalid": [
            {
                "line": 4,
                "message": "follower_count must be a whole number of at least 0, not '1.2k'",
            }
        ],
    }
    assert await history(client) == [
        {
            "follower_count": 1020,
            "following_count": 11,
            "post_count": 5,
            "bio": None,
            "recorded_at": iso(day(2)),
            "source": "imported",
        },
        {
            "follower_count": 1000,
            "following_count": 10,
            "post_count": None,
            "bio": 'Photographer, "explorer"\nand 🌍',
            "recorded_at": iso(day(0)),
            "source": "imported",
        },
    ]


async def test_imported_points_count_in_statistics_and_daily_views(
    client: AsyncClient, sessions: Sessions
) -> None:
    task_id = await profile(client, sessions)
    # Collected points of the last two days; the import brings the month before them.
    await add_influencer_points(
        sessions, task_id, user_id=USER_ID, start=day(30), count=2, step=timedelta(days=1)
    )
    lines = [json.dumps({"recorded_at": iso(day(n)), "follower_count": 100 * n}) for n in range(30)]

    response = await client.post(IMPORT, content="\n".join(lines).encode(), headers=NDJSON)
    stats = (await client.get(f"{INFLUENCER.prefix}/user_stats/{USER_ID}")).json()["data"]
    daily = await history(client, granularity="day")

    assert response.json()["data"] == {"imported": 30, "skipped": 0, "invalid": []}
    # The latest point is collected (follower 1001 on day 31); 30 days before it lies day 1,
    # an imported point of 100 followers.
    assert stats["latest"]["follower_count"] == 1001
    assert stats["changes"]["30d"]["follower_count"] == {
        "from": 100,
        "to": 1001,
        "delta": 901,
        "pct": 901.0,
    }
    assert [p["source"] for p in daily[:3]] == ["live", "live", "imported"]
    assert [p["follower_count"] for p in daily] == [
        1001,
        1000,
        *(100 * n for n in range(29, -1, -1)),
    ]


async def test_an_import_never_replaces_a_stored_point_and_repeats_store_nothing(
    client: AsyncClient, sessions: Sessions
) -> None:
    task_id = await profile(client, sessions)
    await add_influencer_points(sessions, task_id, user_id=USER_ID, start=day(0), count=1)
    body = (
        "recorded_at,follower_count\n"
        f"{iso(day(0))},5\n"  # the collected point's time
        f"{iso(day(1))},6\n"
        f"{iso(day(1))},7\n"  # the file repeats a time: its first point wins
    ).encode()

    first = await client.post(IMPORT, content=body, headers=CSV)
    again = await client.post(IMPORT, content=body, headers=CSV)

    assert first.json()["data"] == {"imported": 1, "skipped": 2, "invalid": []}
    assert again.json()["data"] == {"imported": 0, "skipped": 3, "invalid": []}
    assert [(p["follower_count"], p["source"]) for p in await history(client)] == [
        (6, "imported"),
        (1000, "live"),
    ]


async def test_concurrent_imports_of_one_file_store_each_point_once(
    client: AsyncClient, sessions: Sessions
) -> None:
    await profile(client, sessions)
    body = "\n".join(
        [
            "recorded_at,follower_count",
            *(f"{iso(day(0) + timedelta(minutes=n))},{n}" for n in range(300)),
        ]
    ).encode()

    answers = await asyncio.gather(
        *(client.post(IMPORT, content=body, headers=CSV) for _ in range(3))
    )

    reports = [answer.json()["data"] for answer in answers]
    assert sum(r["imported"] for r in reports) == 300
    assert sum(r["skipped"] for r in reports) == 600
    assert len(await history(client)) == 300


async def test_a_large_import_is_stored_in_batches(
    client: AsyncClient, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "IMPORT_BATCH_POINTS", 7)
    await profile(client, sessions)
    hours = 50
    body = "\n".join(
        [
            "recorded_at,follower_count",
            *(f"{iso(day(0) + timedelta(hours=n))},{n}" for n in range(hours)),
        ]
    ).encode()

    response = await client.post(IMPORT, content=body, headers=CSV)
    hourly = await history(client, granularity="hour")

    assert response.json()["data"]["imported"] == hours
    assert [p["follower_count"] for p in hourly] == list(range(hours - 1, -1, -1))


async def test_a_post_imports_from_ndjson_with_its_bad_lines_listed(
    client: AsyncClient, sessions: Sessions
) -> None:
    task_id = await create_task(client, POST, "CxYQJO8xuC6")
    await add_post_points(sessions, task_id, post_code="CxYQJO8xuC6", start=day(5), count=1)
    lines = [
        json.dumps({"recorded_at": iso(day(0)), "like_count": 10, "play_count": None}),
        "",
        "{not json",
        json.dumps({"recorded_at": "2026-11-01 00:00:00", "like_count": 1}),
        json.dumps({"recorded_at": iso(day(1)), "likes": 1}),
        json.dumps([1, 2]),
        json.dumps({"recorded_at": iso(day(2)), "like_count": -1}),
        json.dumps({"recorded_at": "2099-01-01T00:00:00Z", "like_count": 1}),
        json.dumps({"recorded_at": iso(day(3)), "comment_count": 4, "source": "live"}),
    ]

    response = await client.post(
        f"{POST.prefix}/video_history/CxYQJO8xuC6/import",
        content="\r\n".join(lines).encode(),
        headers={"content-type": "application/x-ndjson; charset=utf-8"},
    )

    data = response.json()["data"]
    assert (data["imported"], data["skipped"]) == (2, 0)
    assert [entry["line"] for entry in data["invalid"]] == [3, 4, 5, 6, 7, 8]
    assert (
        "recorded_at must be a date and time with Z or an offset" in data["invalid"][1]["message"]
    )
    assert data["invalid"][2]["message"] == "has unknown fields likes"
    assert data["invalid"][5]["message"] == "recorded_at 2099-01-01T00:00:00Z is in the future"
    points = (await client.get(f"{POST.prefix}/video_history/CxYQJO8xuC6")).json()["data"]
    assert [(p["like_count"], p["comment_count"], p["source"]) for p in points["history"]] == [
        (500, 7, "live"),
        (None, 4, "imported"),
        (10, None, "imported"),
    ]


async def test_an_import_drops_the_cached_history_view(
    client: AsyncClient, sessions: Sessions, redis: Redis, keys: RedisKeys
) -> None:
    task_id = await profile(client, sessions)
    await add_influencer_points(sessions, task_id, user_id=USER_ID, start=day(1), count=1)
    assert len((await client.get(HISTORY)).json()["data"]["history"]) == 1
    assert await redis.get(keys.influencer_history(USER_ID)) is not None

    await client.post(
        IMPORT, content=f"recorded_at,post_count\n{iso(day(0))},3".encode(), headers=CSV
    )

    assert await redis.get(keys.influencer_history(USER_ID)) is None
    assert len((await client.get(HISTORY)).json()["data"]["history"]) == 2


async def test_imports_refuse_what_they_cannot_read(
    client: AsyncClient, sessions: Sessions
) -> None:
    await profile(client, sessions)

    assert_error(
        await client.post(
            f"{INFLUENCER.prefix}/user_history/nasa/import", content=b"recorded_at\n", headers=CSV
        ),
        404,
        "task_not_found",
    )
    assert_error(
        await client.post(IMPORT, json=[{"recorded_at": iso(day(0))}]),
        415,
        "unsupported_media_type",
    )
    assert_error(
        await client.post(
            IMPORT, content=b"recorded_at\n", headers={"content-type": "text/csv; charset=latin-1"}
        ),
        415,
        "unsupported_media_type",
    )
    error = assert_error(
        await client.post(IMPORT, content=b"time,followers\n", headers=CSV), 422, "invalid_header"
    )
    assert "unknown columns time, followers" in error["message"]
    assert "no recorded_at column" in error["message"]
    assert_error(await client.post(IMPORT, content=b"", headers=CSV), 422, "invalid_header")
    assert_error(
        await client.post(
            IMPORT, content=b"recorded_at,bio\n2026-11-01T00:00:00Z,\xff", headers=CSV
        ),
        422,
        "invalid_encoding",
    )
    assert await history(client) == []


async def test_limits_on_points_and_bytes_say_so(
    client: AsyncClient, sessions: Sessions, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await profile(client, sessions)
    monkeypatch.setattr(imports, "MAX_IMPORT_POINTS", 5)
    six = "\n".join(["recorded_at,follower_count", *(f"{iso(day(n))},{n}" for n in range(6))])

    error = assert_error(
        await client.post(IMPORT, content=six.encode(), headers=CSV), 413, "too_many_points"
    )

    assert error["details"] == {"points": 6, "max_points": 5}
    assert await history(client) == []
    # Imports take larger bodies than other routes, up to their own limit.
    small = settings.model_copy(
        update={"api_max_body_bytes": 1024, "api_max_import_body_bytes": 4096}
    )
    async with running_app(small) as limited:
        five = "\n".join(["recorded_at,follower_count", *(f"{iso(day(n))},{n}" for n in range(5))])
        padded = five + "\n" * (2000 - len(five))
        assert (await limited.post(IMPORT, content=padded.encode(), headers=CSV)).status_code == 200
        assert_error(
            await limited.post(IMPORT, content=b"recorded_at\n" + b"\n" * 5000, headers=CSV),
            413,
            "payload_too_large",
        )


async def test_an_imported_point_takes_no_slot_from_a_collection(
    client: AsyncClient, sessions: Sessions
) -> None:
    task_id = await profile(client, sessions)
    # Another tracker's points fall on the hour, as this task's slots do.
    await client.post(
        IMPORT, content=f"recorded_at,post_count\n{iso(day(0))},3".encode(), headers=CSV
    )

    await add_influencer_points(sessions, task_id, user_id=USER_ID, start=day(0), count=1)

    assert [(p["post_count"], p["follower_count"], p["source"]) for p in await history(client)] == [
        (None, 1000, "live"),
        (3, None, "imported"),
    ]
