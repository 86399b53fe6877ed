"""user_stats and video_stats against known series, expected values worked out by hand."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient

from shared.models import POST_DETAILS, MediaType, Source
from shared.repositories.history import HistoryRepository
from shared.repositories.tasks import TaskRepository, success_values
from tests.api.support import (
    INFLUENCER,
    INFLUENCER_PREFIX,
    POST,
    POST_PREFIX,
    Sessions,
    assert_error,
    create_task,
    learn_user_id,
)

USER_ID = 787132
D0 = datetime(2026, 10, 17, 12, tzinfo=UTC)
MISSING_DAYS = {14, 15}


def followers(day: int) -> int:
    """100 a day, a spike of 1,000 on day 30, a drop of 300 on day 40."""
    return 10_000 + 100 * day + 900 * (day >= 30) - 400 * (day >= 40)


def profile_row(task_id: str, at: datetime, follower_count: int, **values: Any) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "scheduled_for": at,
        "recorded_at": at,
        "user_id": USER_ID,
        "username": "natgeo",
        "bio": None,
        "follower_count": follower_count,
        "following_count": 50,
        "post_count": None,
        "source": Source.LIVE,
    } | values


async def seed_45_days(sessions: Sessions, task_id: str) -> None:
    rows = []
    for day in range(45):
        if day in MISSING_DAYS:
            continue
        noon = D0 + timedelta(days=day)
        posts = None if day == 44 else 100 + day
        # An earlier point of the day: the day's entry is its last one.
        rows.append(profile_row(task_id, noon - timedelta(hours=6), followers(day) - 50))
        rows.append(profile_row(task_id, noon, followers(day), post_count=posts))
        # A fallback repeats an old value: it never counts, however late.
        rows.append(
            profile_row(task_id, noon + timedelta(hours=6), 999_999, source=Source.FALLBACK)
        )
    async with sessions.begin() as session:
        await HistoryRepository(session).add_influencer_points(rows)


def change(before: int, after: int, pct: float) -> dict[str, Any]:
    return {"from": before, "to": after, "delta": after - before, "pct": pct}


async def test_user_stats_of_45_days_with_a_spike_a_drop_gaps_and_fallbacks(
    client: AsyncClient, sessions: Sessions
) -> None:
    task_id = await create_task(client, INFLUENCER, "natgeo")
    await learn_user_id(sessions, task_id, USER_ID, D0)
    await seed_45_days(sessions, task_id)

    response = await client.get(f"{INFLUENCER_PREFIX}/user_stats/{USER_ID}")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["username"] == "natgeo"
    assert data["user_id"] == USER_ID
    assert data["latest"] == {
        "follower_count": 14_900,
        "following_count": 50,
        "post_count": None,
        "recorded_at": "2026-11-30T12:00:00Z",
    }
    # 1d: day 43 at noon exactly. 7d: day 37. 30d: day 14 is missing, so day 13's noon point
    # (its 18:00 fallback does not count).
    assert data["changes"] == {
        "1d": {
            "follower_count": change(14_800, 14_900, 0.68),
            "following_count": change(50, 50, 0.0),
            "post_count": None,
        },
        "7d": {
            "follower_count": change(14_600, 14_900, 2.05),
            "following_count": change(50, 50, 0.0),
            "post_count": None,
        },
        "30d": {
            "follower_count": change(11_300, 14_900, 31.86),
            "following_count": change(50, 50, 0.0),
            "post_count": None,
        },
    }
    assert data["average_daily_follower_gain"] == {"7d": pytest.approx(300 / 7), "30d": 120.0}
    # 20,000 is next; (20,000 - 14,900) / 120 = 42.5 days, rounded up.
    assert data["milestone"] == {"follower_count": 20_000, "days": 43, "eta": "2027-01-12"}

    daily = data["daily"]
    # The 30 days after 2026-10-31 that have points: days 16 to 44.
    assert [entry["date"] for entry in daily] == [
        (D0 + timedelta(days=day)).date().isoformat() for day in range(44, 15, -1)
    ]
    by_day = {date.fromisoformat(e["date"]): e for e in daily}
    assert by_day[date(2026, 11, 30)] == {
        "date": "2026-11-30",
        "follower_count": 14_900,
        "following_count": 50,
        "post_count": None,
        "follower_delta": 100,
        "following_delta": 0,
        "post_delta": None,
    }
    assert by_day[date(2026, 11, 29)]["post_delta"] == 1
    assert by_day[date(2026, 11, 16)]["follower_delta"] == 1_000
    assert by_day[date(2026, 11, 26)]["follower_delta"] == -300
    # Day 16's delta is against day 13, the previous day with points.
    assert by_day[date(2026, 11, 2)]["follower_delta"] == 300

    # The last 30 deltas: 27 of 100, 1,000, -300 and 300. Their median is 100 and so is most
    # of them, so MAD = 0 and the mean absolute deviation (900 + 400 + 200) / 30 = 50 stands in.
    spread = 1.2533 * 50
    assert data["anomalies"] == [
        {
            "date": "2026-11-26",
            "metric": "follower_count",
            "delta": -300,
            "score": round(0.6745 * -400 / spread, 2),
        },
        {
            "date": "2026-11-16",
            "metric": "follower_count",
            "delta": 1_000,
            "score": round(0.6745 * 900 / spread, 2),
        },
    ]
    assert data["anomalies"][0]["score"] == -4.31

    by_name = await client.get(f"{INFLUENCER_PREFIX}/user_stats/natgeo", params={"days": 3})
    assert [e["date"] for e in by_name.json()["data"]["daily"]] == [
        "2026-11-30",
        "2026-11-29",
        "2026-11-28",
    ]


async def test_a_steady_series_shorter_than_the_windows(
    client: AsyncClient, sessions: Sessions
) -> None:
    task_id = await create_task(client, INFLUENCER, "natgeo")
    rows = [
        profile_row(task_id, D0 + timedelta(days=day), 1_000) for day in range(10)
    ]  # flat for 10 days
    async with sessions.begin() as session:
        await HistoryRepository(session).add_influencer_points(rows)

    data = (await client.get(f"{INFLUENCER_PREFIX}/user_stats/natgeo")).json()["data"]
    assert data["user_id"] is None  # not learned by a collection yet
    assert data["changes"]["1d"]["follower_count"] == change(1_000, 1_000, 0.0)
    assert data["changes"]["30d"] == {
        "follower_count": None,
        "following_count": None,
        "post_count": None,
    }
    assert data["average_daily_follower_gain"] == {"7d": 0.0, "30d": None}
    assert data["milestone"] is None  # no growth
    assert len(data["daily"]) == 10
    assert data["daily"][-1]["follower_delta"] is None  # the first day has nothing before it
    assert data["anomalies"] == []  # 9 equal deltas: nothing stands out


async def test_stats_of_a_target_without_counted_points_are_empty(
    client: AsyncClient, sessions: Sessions
) -> None:
    task_id = await create_task(client, INFLUENCER, "natgeo")
    async with sessions.begin() as session:
        await HistoryRepository(session).add_influencer_point(
            **profile_row(task_id, D0, 5, source=Source.FALLBACK)
        )
    data = (await client.get(f"{INFLUENCER_PREFIX}/user_stats/natgeo")).json()["data"]
    assert data["latest"] is None
    assert data["milestone"] is None
    assert data["daily"] == data["anomalies"] == []
    assert data["average_daily_follower_gain"] == {"7d": None, "30d": None}

    await create_task(client, POST, "CxYQJO8xuC6")
    post = (await client.get(f"{POST_PREFIX}/video_stats/CxYQJO8xuC6")).json()["data"]
    assert post["latest"] is None
    assert post["velocity"]["likes_per_hour"] == {"1h": None, "24h": None}


async def test_stats_of_unknown_targets_are_404(client: AsyncClient) -> None:
    assert_error(await client.get(f"{INFLUENCER_PREFIX}/user_stats/nobody"), 404, "task_not_found")
    assert_error(await client.get(f"{POST_PREFIX}/video_stats/CxYQJO8xuC6"), 404, "task_not_found")
    assert_error(
        await client.get(f"{INFLUENCER_PREFIX}/user_stats/natgeo", params={"days": 366}),
        422,
        "validation_error",
    )


async def test_video_stats_of_200_hours(client: AsyncClient, sessions: Sessions) -> None:
    task_id = await create_task(client, POST, "CxYQJO8xuC6")
    rows = []
    for hour in range(201):
        at = D0 + timedelta(hours=hour)
        counts: dict[str, Any] = {"like_count": 1_000 + 10 * hour, "comment_count": 100 + 2 * hour}
        for moment, source, plays in (
            (at, Source.LIVE, 5_000 + 50 * hour),
            (at + timedelta(minutes=30), Source.FALLBACK, 1),
        ):
            rows.append(
                {
                    "task_id": task_id,
                    "post_code": "CxYQJO8xuC6",
                    "post_id": None,
                    "play_count": plays,
                    "recorded_at": moment,
                    "scheduled_for": moment,
                    "source": source,
                }
                | counts
            )
    async with sessions.begin() as session:
        await HistoryRepository(session).add_post_points(rows)

    data = (await client.get(f"{POST_PREFIX}/video_stats/CxYQJO8xuC6")).json()["data"]
    assert data["post_code"] == "CxYQJO8xuC6"
    assert data["latest"] == {
        "like_count": 3_000,
        "comment_count": 500,
        "play_count": 15_000,
        "recorded_at": "2026-10-25T20:00:00Z",
    }
    # 1h: hour 199; 24h: hour 176; 7d: hour 32.
    assert data["changes"]["1h"]["like_count"] == change(2_990, 3_000, 0.33)
    assert data["changes"]["24h"]["like_count"] == change(2_760, 3_000, 8.7)
    assert data["changes"]["7d"]["like_count"] == change(1_320, 3_000, 127.27)
    assert data["changes"]["7d"]["play_count"] == change(6_600, 15_000, 127.27)
    assert data["velocity"] == {
        "likes_per_hour": {"1h": 10.0, "24h": 10.0},
        "comments_per_hour": {"1h": 2.0, "24h": 2.0},
        "plays_per_hour": {"1h": 50.0, "24h": 50.0},
    }
    assert data["engagement_rate_by_plays"] == pytest.approx(3_500 / 15_000 * 100)
    assert data["engagement_rate_by_followers"] is None


async def learn_post_details(sessions: Sessions, task_id: str, owner: str) -> None:
    """What the collector stores after its first fetch of a post."""
    async with sessions.begin() as session:
        await TaskRepository(session).record_each_success(
            [
                success_values(
                    task_id,
                    now=D0,
                    post_id="3170000000000000001",
                    owner_username=owner,
                    published_at=datetime(2026, 10, 1, 8, 30, tzinfo=UTC),
                    media_type=MediaType.VIDEO,
                    caption="Into the wild",
                )
            ]
        )


async def add_post_point(sessions: Sessions, task_id: str, code: str) -> None:
    """3,000 likes and 500 comments, no plays, at D0."""
    async with sessions.begin() as session:
        await HistoryRepository(session).add_post_point(
            task_id=task_id,
            post_code=code,
            post_id="3170000000000000001",
            like_count=3_000,
            comment_count=500,
            play_count=None,
            recorded_at=D0,
            scheduled_for=D0,
            source=Source.LIVE,
        )


async def test_video_stats_carry_the_posts_details_and_engagement_by_the_owners_followers(
    client: AsyncClient, sessions: Sessions
) -> None:
    owner_id = await create_task(client, INFLUENCER, "natgeo")
    await learn_user_id(sessions, owner_id, USER_ID, D0)
    async with sessions.begin() as session:
        await HistoryRepository(session).add_influencer_points(
            [
                profile_row(owner_id, D0, 15_000),
                profile_row(owner_id, D0 + timedelta(hours=1), 20_000),
                # Later, but a fallback: the owner's latest follower count stays 20,000.
                profile_row(owner_id, D0 + timedelta(hours=2), 999_999, source=Source.FALLBACK),
            ]
        )
    codes = {"natgeo": "CxYQJO8xuC6", "NatGeo": "B_x-y_Z12", "someone.else": "DaAAAAAAAAA"}
    for owner, code in codes.items():
        task_id = await create_task(client, POST, code)
        await learn_post_details(sessions, task_id, owner)
        await add_post_point(sessions, task_id, code)

    data = (await client.get(f"{POST_PREFIX}/video_stats/CxYQJO8xuC6")).json()["data"]
    assert {name: data[name] for name in ("post_id", *POST_DETAILS)} == {
        "post_id": "3170000000000000001",
        "owner_username": "natgeo",
        "published_at": "2026-10-01T08:30:00Z",
        "media_type": "video",
        "caption": "Into the wild",
    }
    # (3,000 + 500) / 20,000 * 100; no plays, so no rate by plays.
    assert data["engagement_rate_by_followers"] == pytest.approx(17.5)
    assert data["engagement_rate_by_plays"] is None
    # Usernames are not case-sensitive; a post whose owner no task monitors has no rate.
    upper = (await client.get(f"{POST_PREFIX}/video_stats/B_x-y_Z12")).json()["data"]
    assert upper["engagement_rate_by_followers"] == pytest.approx(17.5)
    other = (await client.get(f"{POST_PREFIX}/video_stats/DaAAAAAAAAA")).json()["data"]
    assert other["owner_username"] == "someone.else"
    assert other["engagement_rate_by_followers"] is None


async def test_an_owner_without_counted_followers_gives_no_rate(
    client: AsyncClient, sessions: Sessions
) -> None:
    owner_id = await create_task(client, INFLUENCER, "natgeo")
    async with sessions.begin() as session:
        await HistoryRepository(session).add_influencer_point(
            **profile_row(owner_id, D0, 20_000, source=Source.FALLBACK)
        )
    task_id = await create_task(client, POST, "CxYQJO8xuC6")
    await learn_post_details(sessions, task_id, "natgeo")
    await add_post_point(sessions, task_id, "CxYQJO8xuC6")
    data = (await client.get(f"{POST_PREFIX}/video_stats/CxYQJO8xuC6")).json()["data"]
    assert data["owner_username"] == "natgeo"
    assert data["engagement_rate_by_followers"] is None
