"""History exports: CSV and NDJSON files of one target's or several targets' points, oldest
first, in pages read one after the other."""

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from httpx import AsyncClient

from services.api import export
from shared.models import Source
from shared.repositories.history import HistoryRepository
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
INFLUENCER_COLUMNS = [
    "recorded_at",
    "follower_count",
    "following_count",
    "post_count",
    "bio",
    "source",
]
POST_COLUMNS = ["recorded_at", "like_count", "comment_count", "play_count", "source"]
# What bios hold: commas, quotes, line breaks of both kinds, emoji, leading spaces.
AWKWARD_BIOS = [
    'Photographer, "explorer", dreamer',
    "line one\nline two\r\nline three",
    "🌍📸 nature ✨",
    "  spaced  ",
    None,
]


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


async def profile(client: AsyncClient, sessions: Sessions, name: str = "natgeo") -> str:
    task_id = await create_task(client, INFLUENCER, name)
    await learn_user_id(sessions, task_id, USER_ID if name == "natgeo" else USER_ID + 1, START)
    return task_id


async def add_bios(sessions: Sessions, task_id: str) -> None:
    async with sessions.begin() as session:
        history = HistoryRepository(session)
        for n, bio in enumerate(AWKWARD_BIOS):
            moment = START + timedelta(hours=n)
            await history.add_influencer_point(
                task_id=task_id,
                user_id=USER_ID,
                username="natgeo",
                bio=bio,
                follower_count=None if n == 2 else 1000 + n,
                following_count=10,
                post_count=None,
                recorded_at=moment,
                scheduled_for=moment,
                source=Source.FALLBACK if n == 3 else Source.LIVE,
            )


async def test_a_profile_exports_as_rfc_4180_csv_oldest_first(
    client: AsyncClient, sessions: Sessions
) -> None:
    task_id = await profile(client, sessions)
    await add_bios(sessions, task_id)

    response = await client.get(f"{INFLUENCER.prefix}/user_history/natgeo/export")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="natgeo-profile-history.csv"'
    )
    assert response.text.startswith(",".join(INFLUENCER_COLUMNS) + "\r\n")
    assert parse_csv(response.text) == [
        INFLUENCER_COLUMNS,
        *(
            [
                iso(START + timedelta(hours=n)),
                "" if n == 2 else str(1000 + n),
                "10",
                "",
                bio or "",
                "fallback" if n == 3 else "live",
            ]
            for n, bio in enumerate(AWKWARD_BIOS)
        ),
    ]


async def test_a_post_exports_as_ndjson(client: AsyncClient, sessions: Sessions) -> None:
    task_id = await create_task(client, POST, "CxYQJO8xuC6")
    await add_post_points(sessions, task_id, post_code="CxYQJO8xuC6", start=START, count=3)

    response = await client.get(
        f"{POST.prefix}/video_history/CxYQJO8xuC6/export", params={"format": "ndjson"}
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.headers["content-disposition"] == (
        'attachment; filename="CxYQJO8xuC6-post-history.ndjson"'
    )
    lines = response.text.split("\n")
    assert lines[-1] == ""
    assert [json.loads(line) for line in lines[:-1]] == [
        {
            "recorded_at": iso(START + timedelta(hours=n)),
            "like_count": 500 + n,
            "comment_count": 7,
            "play_count": None,
            "source": "live",
        }
        for n in range(3)
    ]


async def test_pages_hand_over_without_losing_or_repeating_points_of_one_time(
    client: AsyncClient, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "EXPORT_PAGE_POINTS", 3)
    task_id = await profile(client, sessions)
    # Two points at each of 5 times (as a slot and a late retry can): pages of 3 must split
    # such pairs and still give every row once.
    async with sessions.begin() as session:
        history = HistoryRepository(session)
        for n in range(10):
            await history.add_influencer_point(
                task_id=task_id,
                user_id=USER_ID,
                username="natgeo",
                bio=None,
                follower_count=n,
                following_count=None,
                post_count=None,
                recorded_at=START + timedelta(minutes=n // 2),
                scheduled_for=START + timedelta(minutes=n),
                source=Source.LIVE,
            )

    rows = parse_csv((await client.get(f"{INFLUENCER.prefix}/user_history/natgeo/export")).text)

    # Of one time, the first stored first.
    assert [row[1] for row in rows[1:]] == [str(n) for n in range(10)]
    assert [row[0] for row in rows[1:]] == [
        iso(START + timedelta(minutes=n // 2)) for n in range(10)
    ]


async def test_since_until_and_daily_buckets(client: AsyncClient, sessions: Sessions) -> None:
    task_id = await profile(client, sessions)
    await add_influencer_points(sessions, task_id, user_id=USER_ID, start=START, count=72)
    url = f"{INFLUENCER.prefix}/user_history/{USER_ID}/export"

    window = await client.get(
        url,
        params={"since": iso(START + timedelta(hours=5)), "until": iso(START + timedelta(hours=7))},
    )
    daily = await client.get(url, params={"granularity": "day", "format": "ndjson"})

    assert [row[1] for row in parse_csv(window.text)[1:]] == ["1005", "1006", "1007"]
    assert [json.loads(line)["follower_count"] for line in daily.text.splitlines()] == [
        1023,
        1047,
        1071,
    ]
    assert daily.headers["content-disposition"].endswith('natgeo-profile-history-daily.ndjson"')


async def test_an_empty_range_is_a_header_alone(client: AsyncClient, sessions: Sessions) -> None:
    task_id = await profile(client, sessions)
    await add_influencer_points(sessions, task_id, user_id=USER_ID, start=START, count=3)
    url = f"{INFLUENCER.prefix}/user_history/natgeo/export"
    params = {"since": "2030-01-01T00:00:00Z"}

    as_csv = await client.get(url, params=params)
    as_ndjson = await client.get(url, params={**params, "format": "ndjson"})

    assert as_csv.text == ",".join(INFLUENCER_COLUMNS) + "\r\n"
    assert as_ndjson.status_code == 200
    assert as_ndjson.text == ""


async def test_several_targets_in_one_file_with_a_leading_column(
    client: AsyncClient, sessions: Sessions
) -> None:
    natgeo = await profile(client, sessions)
    nasa = await profile(client, sessions, "nasa")
    await add_influencer_points(sessions, natgeo, user_id=USER_ID, start=START, count=2)
    await add_influencer_points(sessions, nasa, user_id=USER_ID + 1, start=START, count=1)

    response = await client.get(
        f"{INFLUENCER.prefix}/export", params={"task_ids": f"{nasa},{natgeo}"}
    )

    assert response.headers["content-disposition"] == (
        'attachment; filename="profiles-history.csv"'
    )
    rows = parse_csv(response.text)
    assert rows[0] == ["username", *INFLUENCER_COLUMNS]
    assert [(row[0], row[2]) for row in rows[1:]] == [
        ("nasa", "1000"),
        ("natgeo", "1000"),
        ("natgeo", "1001"),
    ]
    as_ndjson = await client.get(
        f"{INFLUENCER.prefix}/export", params={"task_ids": natgeo, "format": "ndjson"}
    )
    assert [json.loads(line)["username"] for line in as_ndjson.text.splitlines()] == [
        "natgeo",
        "natgeo",
    ]


async def test_every_profile_with_a_tag_in_one_file(
    client: AsyncClient, sessions: Sessions
) -> None:
    natgeo = await profile(client, sessions)
    nasa = await profile(client, sessions, "nasa")
    await profile(client, sessions, "untagged")
    await add_influencer_points(sessions, natgeo, user_id=USER_ID, start=START, count=2)
    await add_influencer_points(sessions, nasa, user_id=USER_ID + 1, start=START, count=1)
    for task_id in (natgeo, nasa):
        tagged = await client.post(
            f"{INFLUENCER.prefix}/update_task/{task_id}", json={"tags": ["Brand-X"]}
        )
        assert tagged.status_code == 200, tagged.text

    response = await client.get(f"{INFLUENCER.prefix}/export", params={"tag": "brand-x"})

    rows = parse_csv(response.text)
    assert rows[0] == ["username", *INFLUENCER_COLUMNS]
    # Oldest task first: natgeo was created before nasa; the untagged profile is left out.
    assert [(row[0], row[2]) for row in rows[1:]] == [
        ("natgeo", "1000"),
        ("natgeo", "1001"),
        ("nasa", "1000"),
    ]
    several = f"{INFLUENCER.prefix}/export"
    assert_error(await client.get(several, params={"tag": "nobody"}), 404, "task_not_found")
    both = {"tag": "brand-x", "task_ids": natgeo}
    assert_error(await client.get(several, params=both), 422, "validation_error")
    assert_error(await client.get(several, params={"tag": "no spaces"}), 422, "validation_error")


async def test_exports_refuse_unknown_targets_and_bad_parameters(
    client: AsyncClient, sessions: Sessions
) -> None:
    natgeo = await profile(client, sessions)
    post = await create_task(client, POST, "CxYQJO8xuC6")
    several = f"{INFLUENCER.prefix}/export"

    assert_error(
        await client.get(f"{INFLUENCER.prefix}/user_history/nasa/export"), 404, "task_not_found"
    )
    assert_error(
        await client.get(f"{POST.prefix}/video_history/cxyqjo8xuc6/export"), 404, "task_not_found"
    )
    error = assert_error(
        await client.get(several, params={"task_ids": f"{natgeo},{post}"}), 404, "task_not_found"
    )
    assert error["details"] == {"not_found_task_ids": [post]}
    assert_error(await client.get(several, params={"task_ids": "natgeo"}), 422, "validation_error")
    assert_error(await client.get(several), 422, "validation_error")
    url = f"{INFLUENCER.prefix}/user_history/natgeo/export"
    assert_error(await client.get(url, params={"format": "xlsx"}), 422, "validation_error")
    assert_error(await client.get(url, params={"since": "yesterday"}), 422, "validation_error")


async def test_an_export_while_the_collector_writes_has_each_point_once(
    client: AsyncClient, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "EXPORT_PAGE_POINTS", 10)
    task_id = await profile(client, sessions)
    await add_influencer_points(sessions, task_id, user_id=USER_ID, start=START, count=200)

    async def collect() -> None:
        # New slots after the stored ones, and late rows of old slots' times, as the export runs.
        for n in range(40):
            await add_influencer_points(
                sessions,
                task_id,
                user_id=USER_ID,
                start=START + timedelta(hours=200 + n),
                count=1,
            )
            await asyncio.sleep(0)

    response, _ = await asyncio.gather(
        client.get(f"{INFLUENCER.prefix}/user_history/natgeo/export"), collect()
    )

    followers = [int(row[1]) for row in parse_csv(response.text)[1:]]
    # The 200 stored before it began, in order, then whichever new ones it reached, in order.
    assert followers[:200] == list(range(1000, 1200))
    assert followers[200:] == [1000] * len(followers[200:])
    times = [row[0] for row in parse_csv(response.text)[1:]]
    assert len(times) == len(set(times))
    assert times == sorted(times)
