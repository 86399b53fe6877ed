"""Alert rules and milestones: evaluated as the collector stores counted points, they raise
events on the edge, once."""

from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from httpx import AsyncClient
from sqlalchemy import select

from services.collector.writer import SlotRecord, SlotWriter
from shared.models import Source, Task, TaskType, WebhookEvent, utcnow
from tests.api.support import Sessions
from tests.collector.support import make_task
from tests.webhooks.conftest import create_webhook
from tests.webhooks.receiver import Receiver

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=utcnow().tzinfo)


@pytest.fixture
async def profile(sessions: Sessions) -> Task:
    return await make_task(sessions, TaskType.INFLUENCER, "instagram")


@pytest.fixture
async def webhook(client: AsyncClient, receiver: Receiver) -> dict[str, Any]:
    return await create_webhook(client, receiver.url)


async def store(
    sessions: Sessions,
    task: Task,
    at: datetime,
    *,
    source: Source = Source.LIVE,
    **counts: int | None,
) -> None:
    """Store one slot's point through the collector's writer."""
    if task.task_type is TaskType.INFLUENCER:
        values: dict[str, Any] = {
            "username": task.target,
            "user_id": None,
            "bio": None,
            "follower_count": None,
            "following_count": None,
            "post_count": None,
        }
    else:
        values = {"post_code": task.target, "post_id": None, "like_count": None}
        values |= {"comment_count": None, "play_count": None}
    row = {
        **values,
        **counts,
        "task_id": task.id,
        "scheduled_for": at,
        "recorded_at": at,
        "source": source,
    }
    await SlotWriter(sessions).write(SlotRecord(task.id, task.task_type, at, row, at))


async def events(sessions: Sessions) -> list[dict[str, Any]]:
    """Every event written, oldest first, as its receivers get it."""
    async with sessions() as session:
        bodies = await session.scalars(
            select(WebhookEvent.body).order_by(WebhookEvent.created_at, WebhookEvent.id)
        )
        return [orjson.loads(body) for body in bodies]


async def create_alert(client: AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/alerts", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()["data"]
    return created


async def test_an_above_alert_fires_once_while_it_holds_and_again_only_after_its_cooldown(
    client: AsyncClient, sessions: Sessions, profile: Task, webhook: dict[str, Any]
) -> None:
    alert = await create_alert(
        client,
        task_id=profile.id,
        metric="follower_count",
        condition="above",
        threshold=1000,
        cooldown="1h",
    )
    assert (alert["state"], alert["target"], alert["cooldown"]) == ("ok", "instagram", "1h")
    # A 30 s task: the condition holds for several collections in a row.
    for n, followers in enumerate([900, 1001, 1500, 1200, 800, 1100]):
        await store(sessions, profile, T0 + timedelta(seconds=30 * n), follower_count=followers)
    later = T0 + timedelta(hours=2)
    await store(sessions, profile, later, follower_count=1300)

    got = [e for e in await events(sessions) if e["type"].startswith("alert.")]
    assert [(e["type"], e["data"]["value"]) for e in got] == [
        ("alert.triggered", 1001),
        ("alert.resolved", 800),
        # 1100, 30 s after it resolved, was within the cooldown: nothing.
        ("alert.triggered", 1300),
    ]
    assert got[0]["data"] == {
        "alert_id": alert["alert_id"],
        "task_id": profile.id,
        "target": "instagram",
        "metric": "follower_count",
        "condition": "above",
        "threshold": 1000.0,
        "window": None,
        "value": 1001.0,
        "recorded_at": "2026-11-21T12:00:30Z",
    }
    shown = (await client.get(f"/api/v1/alerts/{alert['alert_id']}")).json()["data"]
    assert shown["state"] == "triggered"
    assert shown["last_triggered_at"] == "2026-11-21T14:00:00Z"
    assert shown["last_resolved_at"] == "2026-11-21T12:02:00Z"
    assert shown["last_value"] == 1300


async def test_a_change_pct_alert_compares_with_the_point_a_window_ago(
    client: AsyncClient, sessions: Sessions, profile: Task, webhook: dict[str, Any]
) -> None:
    alert = await create_alert(
        client,
        task_id=profile.id,
        metric="follower_count",
        condition="change_pct_above",
        threshold=5,
        window="1h",
    )
    await store(sessions, profile, T0, follower_count=1000)
    await store(sessions, profile, T0 + timedelta(minutes=30), follower_count=1200)
    # No point is an hour old yet: the change is unknown, nothing fires.
    shown = (await client.get(f"/api/v1/alerts/{alert['alert_id']}")).json()["data"]
    assert (shown["state"], shown["last_value"]) == ("ok", None)
    await store(sessions, profile, T0 + timedelta(minutes=61), follower_count=1100)

    [event] = await events(sessions)
    assert event["type"] == "alert.triggered"
    assert (event["data"]["value"], event["data"]["window"]) == (10.0, "1h")
    shown = (await client.get(f"/api/v1/alerts/{alert['alert_id']}")).json()["data"]
    assert (shown["state"], shown["last_value"]) == ("triggered", 10.0)


async def test_a_change_below_alert_on_a_post_fires_on_a_drop(
    client: AsyncClient, sessions: Sessions, webhook: dict[str, Any]
) -> None:
    post = await make_task(sessions, TaskType.POST, "CxYQJO8xuC6")
    await create_alert(
        client,
        task_id=post.id,
        metric="like_count",
        condition="change_below",
        threshold=-100,
        window="1d",
    )
    await store(sessions, post, T0, like_count=5000)
    await store(sessions, post, T0 + timedelta(days=1), like_count=4950)
    await store(sessions, post, T0 + timedelta(days=1, hours=1), like_count=4800)
    [event] = await events(sessions)
    assert (event["type"], event["data"]["value"], event["data"]["target"]) == (
        "alert.triggered",
        -200.0,
        "CxYQJO8xuC6",
    )


async def test_fallback_points_and_older_points_set_nothing_off(
    client: AsyncClient, sessions: Sessions, profile: Task, webhook: dict[str, Any]
) -> None:
    alert = await create_alert(
        client, task_id=profile.id, metric="follower_count", condition="below", threshold=500
    )
    await store(sessions, profile, T0, follower_count=100, source=Source.FALLBACK)
    shown = (await client.get(f"/api/v1/alerts/{alert['alert_id']}")).json()["data"]
    assert (shown["state"], shown["last_evaluated_at"]) == ("ok", None)
    await store(sessions, profile, T0 + timedelta(hours=1), follower_count=400)
    # A point older than the latest (an import of the past) changes nothing now.
    await store(sessions, profile, T0 + timedelta(minutes=30), follower_count=900)
    assert [e["type"] for e in await events(sessions)] == ["alert.triggered"]
    shown = (await client.get(f"/api/v1/alerts/{alert['alert_id']}")).json()["data"]
    assert (shown["state"], shown["last_value"]) == ("triggered", 400)


async def test_a_follower_count_crossing_a_milestone_is_told_once(
    sessions: Sessions, profile: Task, webhook: dict[str, Any]
) -> None:
    counts = [999_990, 1_000_010, 1_000_500, 999_000, 1_000_200, 2_400_000, 2_500_000]
    for n, followers in enumerate(counts):
        await store(sessions, profile, T0 + timedelta(minutes=n), follower_count=followers)
    got = await events(sessions)
    # The first count is where the profile stood, not a crossing; a dip and a return is not
    # a new milestone.
    assert [(e["type"], e["data"]["milestone"]) for e in got] == [
        ("milestone.reached", 1_000_000),
        ("milestone.reached", 2_000_000),
    ]
    assert got[0]["data"] == {
        "task_id": profile.id,
        "username": "instagram",
        "milestone": 1_000_000,
        "value": 1_000_010,
        "recorded_at": "2026-11-21T12:01:00Z",
    }


async def test_without_a_webhook_no_event_is_stored_but_the_alert_still_moves(
    client: AsyncClient, sessions: Sessions, profile: Task
) -> None:
    alert = await create_alert(
        client, task_id=profile.id, metric="post_count", condition="above", threshold=10
    )
    await store(sessions, profile, T0, post_count=11)
    assert await events(sessions) == []
    shown = (await client.get(f"/api/v1/alerts/{alert['alert_id']}")).json()["data"]
    assert shown["state"] == "triggered"


async def test_alert_requests_are_checked(
    client: AsyncClient, sessions: Sessions, profile: Task
) -> None:
    base = {"task_id": profile.id, "metric": "follower_count", "threshold": 1}
    for body, message in (
        ({**base, "condition": "change_above"}, "change_above needs a window"),
        ({**base, "condition": "above", "window": "1d"}, "drop the window"),
        ({**base, "condition": "above", "window": "30d"}, "window"),
        ({**base, "condition": "above", "cooldown": "31d"}, "cooldown is at most 30d"),
        ({**base, "condition": "above", "cooldown": "soon"}, "cooldown"),
        ({**base, "condition": "above", "threshold": "NaN"}, "threshold"),
        ({**base, "condition": "rises"}, "condition"),
        ({**base, "condition": "above", "metric": "like_count"}, "not a count of influencer"),
    ):
        response = await client.post("/api/v1/alerts", json=body)
        assert response.status_code == 422, body
        assert message in response.json()["error"]["message"], response.text
    unknown = {**base, "condition": "above", "task_id": "5b0c6a4e-8f43-4a57-9d2e-2f1d0b8e6c11"}
    missing = await client.post("/api/v1/alerts", json=unknown)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "task_not_found"

    alert = await create_alert(client, **base, condition="below", cooldown="90s")
    assert alert["cooldown"] == "90s"
    listed = (await client.get("/api/v1/alerts", params={"task_id": profile.id})).json()["data"]
    assert [a["alert_id"] for a in listed] == [alert["alert_id"]]
    other = "5b0c6a4e-8f43-4a57-9d2e-2f1d0b8e6c11"
    assert (await client.get("/api/v1/alerts", params={"task_id": other})).json()["data"] == []
    assert (await client.delete(f"/api/v1/alerts/{alert['alert_id']}")).status_code == 200
    gone = await client.get(f"/api/v1/alerts/{alert['alert_id']}")
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "alert_not_found"


async def test_task_health_changes_are_told_once_each(
    sessions: Sessions, profile: Task, webhook: dict[str, Any]
) -> None:
    async def fail(at: datetime, *, unavailable: bool = False) -> None:
        record = SlotRecord(
            profile.id,
            profile.task_type,
            at,
            None,
            at,
            error="TikHub /v1: HTTP 404: User not found." if unavailable else "TikHub: HTTP 503",
            unavailable=unavailable,
        )
        await SlotWriter(sessions).write(record)

    for n in range(4):  # the third failure in a row makes it failing, the fourth adds nothing
        await fail(T0 + timedelta(minutes=n))
    await store(sessions, profile, T0 + timedelta(minutes=4), follower_count=10)
    await fail(T0 + timedelta(minutes=5), unavailable=True)

    got = [(e["type"], e["data"]) for e in await events(sessions)]
    common = {"task_id": profile.id, "target": "instagram", "kind": "influencer"}
    assert got == [
        ("task.failing", {**common, "consecutive_failures": 3, "last_error": "TikHub: HTTP 503"}),
        ("task.recovered", {**common, "consecutive_failures": 0, "last_error": None}),
        (
            "task.unavailable",
            {
                **common,
                "consecutive_failures": 1,
                "last_error": "TikHub /v1: HTTP 404: User not found.",
            },
        ),
    ]
