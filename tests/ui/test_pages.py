"""The dashboard's alerts and webhooks, its usage page, and a target's alerts and downloads, as a
user sees them in a real browser, against the real processes, with no internet."""

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, Route, ViewportSize, expect
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.auth import SESSION_COOKIE
from shared.db import create_session_factory
from shared.models import utcnow
from shared.tikhub_usage import DEFAULT_PRICES_USD, PROFILE_V1, key_fingerprint
from tests.api.support import INFLUENCER, add_api_key
from tests.conftest import empty_tables, forget_prefix, fresh_settings
from tests.e2e.stack import Stack, running_stack
from tests.e2e.test_product import eventually
from tests.ui.conftest import (
    DESKTOP,
    PHONE,
    WAIT_MS,
    offline_page,
    painted_columns,
    painted_pixels,
    screenshot_path,
)
from tests.webhooks.receiver import running_receiver

# One stack serves the whole module: its tests run on one worker, one after another.
pytestmark = pytest.mark.xdist_group("ui-pages")

USERNAME = "natgeo"
TARGET_PAGE = f"/ui/targets/influencer/{USERNAME}"
TIKHUB_KEY = "sandbox-e2e-key"
BALANCE_USD = 12.34
ENVIRONMENT = {
    "API_AUTH": "required",
    # The test's receiver listens on this machine.
    "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    # The usage ledger is written every second rather than every 30.
    "COLLECTOR_USAGE_FLUSH_SECONDS": "1",
    "SANDBOX_BALANCE_USD": str(BALANCE_USD),
}
# The columns of an exported profile, in the contract's order (docs/api.md).
EXPORT_COLUMNS = ["recorded_at", "follower_count", "following_count", "post_count", "bio", "source"]
# The colours of the usage chart's bars and of a profile's "Following" line (dashboard.js).
CALLS_BARS = (0x25, 0x63, 0xEB)
FOLLOWING_LINE = (0x93, 0x33, 0xEA)
# The first collection of a new task runs at once, but the machine may be busy.
FIRST_POINT_SECONDS = 90
# Webhook deliveries: the scheduler ticks every second; a busy machine takes longer.
DELIVERY_MS = 30_000


@pytest.fixture(scope="module")
async def stack(
    database_url: str, engine: AsyncEngine, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """Sandbox, API (keys required), scheduler and collector, for every test of the module;
    the database and Redis are emptied after the last."""
    settings = fresh_settings(database_url)
    try:
        async with running_stack(
            settings,
            tmp_path_factory.mktemp("pages"),
            ("sandbox", "api", "scheduler", "collector"),
            ENVIRONMENT,
        ) as running:
            yield running
    finally:
        await empty_tables(engine)
        redis = Redis.from_url(settings.redis_url)
        await forget_prefix(redis, settings.redis_prefix)
        await redis.aclose()


@pytest.fixture(scope="module")
async def key(stack: Stack, engine: AsyncEngine) -> str:
    return await add_api_key(create_session_factory(engine))


@pytest.fixture(scope="module")
async def api(stack: Stack, key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=stack.api_url, headers={"X-API-Key": key}, timeout=10
    ) as client:
        yield client


@pytest.fixture(scope="module")
async def profile(api: httpx.AsyncClient) -> str:
    """The profile most tests look at; its task id."""
    return await monitored(api, USERNAME)


@pytest.fixture(scope="module")
async def older_points(api: httpx.AsyncClient, profile: str) -> None:
    """Points of the profile from another tracker, three days old, with the bios a CSV file
    must quote."""
    start = utcnow() - timedelta(days=3)
    bios = ["Plain", 'Says "hello", twice', "Two\nlines", "Émoji 🌍"]
    imported = io.StringIO()
    writer = csv.writer(imported)
    writer.writerow(EXPORT_COLUMNS[:-1])
    for n, bio in enumerate(bios):
        moment = (start + timedelta(hours=n)).strftime("%Y-%m-%dT%H:%M:%SZ")
        writer.writerow([moment, 1_000_000 + n, 100, 500 + n, bio])
    answer = await api.post(
        f"{INFLUENCER.prefix}/user_history/{USERNAME}/import",
        content=imported.getvalue(),
        headers={"Content-Type": "text/csv"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["imported"] == len(bios)


async def monitored(api: httpx.AsyncClient, username: str) -> str:
    """A profile monitored hourly, once its first collection is in; its task id."""
    created = await api.post(
        f"{INFLUENCER.prefix}/create_monitor_task", json={"username": username, "interval": "1h"}
    )
    assert created.status_code == 201, created.text

    async def collected() -> bool:
        return bool(await history(api, username))

    await eventually(collected, f"the first collection of {username}", FIRST_POINT_SECONDS)
    task_id: str = created.json()["data"]["task_id"]
    return task_id


async def data(api: httpx.AsyncClient, path: str, **params: Any) -> Any:
    response = await api.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def history(api: httpx.AsyncClient, username: str = USERNAME) -> list[dict[str, Any]]:
    """A profile's points as the API gives them, newest first."""
    path = f"{INFLUENCER.prefix}/user_history/{username}"
    points: list[dict[str, Any]] = (await data(api, path, limit=1000))["history"]
    return points


async def signed_in_page(
    browser: Browser, stack: Stack, key: str, viewport: ViewportSize
) -> tuple[Page, list[str]]:
    """An offline page holding the cookie the sign-in form leaves (the sign-in itself is
    tested with the targets page)."""
    page, elsewhere = await offline_page(browser, stack, viewport)
    await page.context.add_cookies([{"name": SESSION_COOKIE, "value": key, "url": stack.api_url}])
    return page, elsewhere


async def test_a_webhook_shows_its_secret_once_and_logs_its_deliveries_through_a_retry(
    stack: Stack, browser: Browser, key: str, api: httpx.AsyncClient
) -> None:
    with running_receiver() as receiver:
        # The first attempt and its automatic retry fail; the one the user asks for succeeds.
        receiver.answer(500, 500)
        page, elsewhere = await signed_in_page(browser, stack, key, DESKTOP)
        await page.goto("/ui/alerts")
        webhooks = page.locator("#webhooks")
        await expect(webhooks).to_contain_text("No webhooks yet")

        await page.get_by_label("URL").fill(receiver.url)
        await page.get_by_label("Description").fill("the test receiver")
        await page.get_by_role("button", name="Add webhook").click()
        await expect(page.locator("#notice")).to_contain_text("Copy its secret now")
        secret_box = page.locator("#new-secret")
        await expect(secret_box).to_be_visible()
        await expect(secret_box.locator("[data-secret-url]")).to_have_text(receiver.url)
        secret = await secret_box.locator("[data-secret-value]").inner_text()
        assert secret.startswith("whsec_")
        await expect(page.get_by_label("URL")).to_have_value("")
        hook = webhooks.locator("article.webhook", has_text=receiver.url)
        await expect(hook.locator(".badge")).to_have_text("enabled")
        await expect(hook.locator(".meta")).to_contain_text("the test receiver")
        [listed] = await data(api, "/api/v1/webhooks")
        assert secret not in json.dumps(listed), "the API shows the secret again"

        await hook.get_by_role("button", name="Send test").click()
        await expect(page.locator("#notice")).to_contain_text("Sent a test event")
        delivery = hook.locator("tbody tr")
        await expect(delivery).to_have_count(1, timeout=DELIVERY_MS)
        deliveries = f"/api/v1/webhooks/{listed['webhook_id']}/deliveries"

        async def first_attempt_made() -> bool:
            [logged] = await data(api, deliveries)
            return bool(logged["attempts"])

        # The log polls every 5 s, the retry's delay: the page is reloaded to be sure to show
        # the first attempt before the retry.
        await eventually(first_attempt_made, "the first attempt", DELIVERY_MS / 1000)
        await page.reload()
        await expect(secret_box).to_be_hidden()
        assert secret not in await page.content(), "the secret is shown again"
        status = delivery.locator('td[data-label="Status"]')
        response = delivery.locator('td[data-label="Response"]')
        await expect(status).to_contain_text("1 attempt")
        await expect(delivery).to_have_attribute("data-status", "retrying")
        await expect(response).to_have_text("500")
        await expect(delivery.locator("th")).to_have_text("webhook.test")
        # The contract's first retry comes 5 s later, by itself; the next would be minutes away.
        await expect(status).to_contain_text("2 attempts", timeout=DELIVERY_MS)
        await expect(delivery).to_have_attribute("data-status", "retrying")
        await expect(response).to_have_text("500")
        [logged] = await data(api, deliveries)
        next_attempt = logged["next_attempt_at"]
        await expect(delivery.locator('td[data-label="Attempted"]')).to_contain_text(
            f"next {next_attempt[:10]} {next_attempt[11:19]} UTC"
        )
        await page.screenshot(path=screenshot_path("alerts-retrying-1280"), full_page=True)

        await delivery.get_by_role("button", name="Retry").click()
        await expect(page.locator("#notice")).to_contain_text("Retrying the webhook.test delivery")
        await expect(delivery).to_have_attribute("data-status", "succeeded", timeout=DELIVERY_MS)
        await expect(status).to_contain_text("3 attempts")
        await expect(response).to_have_text("200")
        await expect(delivery.get_by_role("button", name="Retry")).to_have_count(0)

        received = receiver.requests()
        assert len(received) == 3
        assert len({request.headers["webhook-id"] for request in received}) == 1
        assert [request.verified(secret)["type"] for request in received] == ["webhook.test"] * 3
        assert 5 <= received[1].at - received[0].at < 30

        await hook.get_by_role("button", name="Delete").click()
        await expect(page.locator("#notice")).to_contain_text(f"Deleted the webhook {receiver.url}")
        await expect(hook).to_have_count(0)
        await expect(webhooks).to_contain_text("No webhooks yet")
        assert await data(api, "/api/v1/webhooks") == []
    assert elsewhere == []


async def test_alerts_added_on_a_targets_page_are_listed_there_and_on_the_alerts_page(
    stack: Stack, browser: Browser, key: str, api: httpx.AsyncClient, profile: str
) -> None:
    page, elsewhere = await signed_in_page(browser, stack, key, DESKTOP)
    await page.goto(TARGET_PAGE)
    alerts = page.locator("#alerts")
    await expect(alerts).to_contain_text("No alerts on this target")
    window = page.get_by_label("in", exact=True)

    await page.get_by_label("When").select_option(label="Followers")
    await page.get_by_label("Condition").select_option(label="is above")
    await expect(window).to_be_disabled()
    await page.get_by_label("Threshold").fill("5000000")
    await page.get_by_role("button", name="Add alert").click()
    await expect(page.locator("#notice")).to_contain_text("Added the alert")
    above = alerts.locator("tr", has_text="Followers is above 5,000,000")
    await expect(above.locator(".badge")).to_have_text("ok")

    await page.get_by_label("When").select_option(label="Posts")
    await page.get_by_label("Condition").select_option(label="changes by more than")
    await expect(window).to_be_enabled()
    await window.select_option(label="7 days")
    await page.get_by_label("Threshold").fill("3")
    await page.get_by_role("button", name="Add alert").click()
    change = alerts.locator("tr", has_text="Posts changes by more than +3 in 7d")
    await expect(change.locator(".badge")).to_have_text("ok")
    await expect(alerts.locator("tbody tr")).to_have_count(2)

    stored = await data(api, "/api/v1/alerts", task_id=profile)
    assert sorted(
        (alert["metric"], alert["condition"], alert["threshold"], alert["window"])
        for alert in stored
    ) == [("follower_count", "above", 5_000_000, None), ("post_count", "change_above", 3, "7d")]

    await page.get_by_role("link", name="Alerts & webhooks").click()
    everywhere = page.locator("#alerts")
    for rule in ("Followers is above 5,000,000", "Posts changes by more than +3 in 7d"):
        row = everywhere.locator("tr", has_text=rule)
        await expect(row.get_by_role("link", name=f"@{USERNAME}")).to_have_attribute(
            "href", TARGET_PAGE
        )
    await page.screenshot(path=screenshot_path("alerts-1280"), full_page=True)

    # One goes from the list of every alert, the other from its target's page.
    posts = everywhere.locator("tr", has_text="Posts changes by more than")
    await posts.get_by_role("button", name="Delete").click()
    await expect(page.locator("#notice")).to_contain_text(f"Deleted the alert on {USERNAME}")
    await expect(posts).to_have_count(0)
    await (
        everywhere.locator("tr", has_text="Followers is above")
        .get_by_role("link", name=f"@{USERNAME}")
        .click()
    )
    await expect(page).to_have_url(f"{stack.api_url}{TARGET_PAGE}")
    await expect(alerts.locator("tbody tr")).to_have_count(1)
    await (
        alerts.locator("tr", has_text="Followers is above")
        .get_by_role("button", name="Delete")
        .click()
    )
    await expect(alerts).to_contain_text("No alerts on this target")
    assert await data(api, "/api/v1/alerts") == []
    await page.goto("/ui/alerts")
    await expect(page.locator("#alerts")).to_contain_text("No alerts yet")
    assert elsewhere == []


async def download(page: Page, link: str) -> tuple[str, str]:
    """Click the link named `link`; the name and text of the file the browser saves."""
    async with page.expect_download() as started:
        await page.get_by_role("link", name=link).click()
    saved = await started.value
    text = await asyncio.to_thread(Path(await saved.path()).read_text, encoding="utf-8")
    return saved.suggested_filename, text


async def test_the_download_links_hold_the_targets_whole_history(
    stack: Stack, browser: Browser, key: str, api: httpx.AsyncClient, older_points: None
) -> None:
    points = list(reversed(await history(api)))  # oldest first, as the files are
    assert {point["source"] for point in points} == {"imported", "live"}

    page, elsewhere = await signed_in_page(browser, stack, key, DESKTOP)
    await page.goto(TARGET_PAGE)
    name, text = await download(page, "CSV")
    assert name.endswith(".csv")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == EXPORT_COLUMNS
    assert rows[1:] == [
        ["" if point[column] is None else str(point[column]) for column in EXPORT_COLUMNS]
        for point in points
    ]

    name, text = await download(page, "NDJSON")
    assert name.endswith(".ndjson")
    lines = text.splitlines()
    assert [json.loads(line) for line in lines] == [
        {column: point[column] for column in EXPORT_COLUMNS} for point in points
    ]
    assert elsewhere == []


async def test_the_range_picked_last_is_the_one_drawn(
    stack: Stack, browser: Browser, key: str, api: httpx.AsyncClient, older_points: None
) -> None:
    points = await history(api)
    day_ago = utcnow() - timedelta(days=1)
    last_day = [point for point in points if datetime.fromisoformat(point["recorded_at"]) > day_ago]
    assert 0 < len(last_day) < len(points), "the week holds more points than the day"
    page, elsewhere = await signed_in_page(browser, stack, key, DESKTOP)
    # The week the page loads first answers after the day picked meanwhile.
    delays = [2.0]
    answered_late = asyncio.Event()

    async def first_load_late(route: Route) -> None:
        if not delays:
            await route.continue_()
            return
        await asyncio.sleep(delays.pop())
        await route.continue_()
        answered_late.set()

    await page.route(f"**/user_history/{USERNAME}?*", first_load_late)
    await page.goto(TARGET_PAGE)
    await page.get_by_role("button", name="24 h", exact=True).click()
    await asyncio.wait_for(answered_late.wait(), WAIT_MS / 1000)
    await page.wait_for_load_state("networkidle")
    # Read once, not waited for: the chart reloads its range every 30 s.
    chart = page.locator("#chart")
    assert await chart.get_attribute("data-range-loaded") == "true"
    assert await chart.get_attribute("data-points") == str(len(last_day))
    day = page.get_by_role("button", name="24 h", exact=True)
    assert await day.get_attribute("aria-pressed") == "true"
    assert elsewhere == []


async def test_a_new_targets_page_shows_its_first_point_mid_chart_until_stopped(
    stack: Stack, browser: Browser, key: str, api: httpx.AsyncClient
) -> None:
    task_id = await monitored(api, "nasa")
    page, elsewhere = await signed_in_page(browser, stack, key, DESKTOP)
    await page.goto("/ui/targets/influencer/nasa")
    await expect(page.locator("#chart")).to_have_attribute("data-range-loaded", "true")
    await expect(page.locator("#chart-note")).to_have_text("1 point, every collection.")
    # Only the point's mark has the line's colour: it sits in the middle, not at an edge.
    columns = await painted_columns(page, "#chart canvas", FOLLOWING_LINE)
    assert columns, "the point is not drawn"
    assert 0.4 < min(columns) <= max(columns) < 0.6, (min(columns), max(columns))
    await page.screenshot(path=screenshot_path("target-first-point-1280"))

    await page.get_by_role("button", name="Stop").click()
    await expect(page.locator("#task-status")).to_have_text("stopped")
    await expect(page.locator("#task-actions button")).to_have_count(0)
    assert (await data(api, f"{INFLUENCER.prefix}/task_status/{task_id}"))["status"] == "stopped"
    assert elsewhere == []


async def test_the_usage_page_shows_todays_calls_their_cost_and_a_30_day_chart(
    stack: Stack, browser: Browser, key: str, api: httpx.AsyncClient, profile: str
) -> None:
    async with httpx.AsyncClient(base_url=stack.sandbox_url, timeout=10) as sandbox:
        answered = (await sandbox.get("/_sandbox/calls")).json()

    async def ledger_caught_up() -> bool:
        tikhub = (await data(api, "/api/v1/usage"))["tikhub"]
        return bool(tikhub["today"]["calls"] >= answered["total"] and tikhub["balance_usd"])

    await eventually(ledger_caught_up, "the ledger and the balance", 30)
    calls = (await data(api, "/api/v1/usage"))["tikhub"]["today"]["calls"]
    # The sandbox injects no fault: each collection made one call of the profile endpoint, and
    # the balance check is free.
    price = DEFAULT_PRICES_USD[PROFILE_V1]
    cost = answered["by_path"][PROFILE_V1] * price
    tasks = await data(api, f"{INFLUENCER.prefix}/tasks")
    statuses = [task["status"] for task in tasks]
    calls_per_day = sum(
        86_400 // task["interval_seconds"] for task in tasks if task["status"] == "active"
    )
    per_day = calls_per_day * price

    page, elsewhere = await signed_in_page(browser, stack, key, DESKTOP)
    await page.goto("/ui/usage")
    await expect(page.locator("#calls-today .value")).to_have_text(f"{calls:,}")
    assert calls >= answered["total"]
    await expect(page.locator("#calls-today")).to_contain_text(f"{answered['total']} billable")
    await expect(page.locator("#cost-today .value")).to_have_text(f"${cost:.3f}")
    await expect(page.locator("#cost-today")).to_contain_text("no daily budget set")
    await expect(page.locator("#projected .value")).to_have_text(f"${per_day:.3f}")
    await expect(page.locator("#projected")).to_contain_text(
        f"{calls_per_day} calls; ${30 * per_day:.2f} per 30 days"
    )
    await expect(page.locator("#balance .value")).to_have_text(f"${BALANCE_USD:.2f}")
    await expect(page.locator("#runway .value")).to_have_text(f"{BALANCE_USD / per_day:.1f} days")
    key_row = page.locator("table.keys tbody tr")
    await expect(key_row).to_have_count(1)
    await expect(key_row.locator("code")).to_have_text(key_fingerprint(TIKHUB_KEY))
    await expect(key_row.locator(".badge")).to_have_text("healthy")
    await expect(key_row.locator('td[data-label="Calls today"]')).to_have_text(f"{calls:,}")
    counts = ", ".join(f"{statuses.count(name)} {name}" for name in ("active", "paused", "stopped"))
    await expect(page.get_by_text(f"Targets: {counts}.")).to_be_visible()

    chart = page.locator("#usage-chart")
    await expect(chart).to_have_attribute("data-days", "30")
    box = await chart.locator("canvas").bounding_box()
    assert box is not None
    assert box["width"] > 300
    assert box["height"] > 150
    # Today's bar is the only one, and the tallest.
    assert await painted_pixels(page, "#usage-chart canvas", CALLS_BARS) > 100
    await page.screenshot(path=screenshot_path("usage-1280"), full_page=True)
    assert elsewhere == []


async def fits_the_width(page: Page) -> None:
    """The body does not scroll sideways."""
    width, inner = await page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"{page.url} scrolls sideways: {width} px in {inner}"


async def within_reach(action: Locator) -> None:
    """Visible and wholly inside the screen's width: a scroll down reaches it, none sideways."""
    await expect(action).to_be_visible()
    box = await action.bounding_box()
    assert box is not None
    assert box["x"] >= 0, await action.inner_text()
    assert box["x"] + box["width"] <= PHONE["width"], await action.inner_text()


async def test_every_page_fits_a_phone_and_keeps_its_actions_in_reach(
    stack: Stack, browser: Browser, key: str, api: httpx.AsyncClient, profile: str
) -> None:
    with running_receiver() as receiver:
        # The delivery keeps failing: its Retry button stays for minutes.
        receiver.answer(500, 500)
        # A long URL and an error in the log: the widest content these pages hold.
        url = f"{receiver.url}/a-long-path-that-a-receiver-may-well-have/instagram-monitor"
        created = await api.post("/api/v1/webhooks", json={"url": url})
        assert created.status_code == 201, created.text
        webhook_id = created.json()["data"]["webhook_id"]
        assert (await api.post(f"/api/v1/webhooks/{webhook_id}/test")).status_code == 202
        alert = await api.post(
            "/api/v1/alerts",
            json={
                "task_id": profile,
                "metric": "follower_count",
                "condition": "above",
                "threshold": 123_456_789,
            },
        )
        assert alert.status_code == 201, alert.text

        async def attempted() -> bool:
            deliveries = await data(api, f"/api/v1/webhooks/{webhook_id}/deliveries")
            return bool(deliveries[0]["attempts"])

        await eventually(attempted, "the first attempt of the test delivery", 30)
        page, elsewhere = await signed_in_page(browser, stack, key, PHONE)

        await page.goto("/ui/alerts")
        hook = page.locator("article.webhook")
        await expect(hook.locator('td[data-label="Response"]')).to_have_text("500")
        await fits_the_width(page)
        for name in ("Add webhook", "Send test", "Retry"):
            await within_reach(page.get_by_role("button", name=name))
        await within_reach(hook.get_by_role("button", name="Delete"))
        await within_reach(page.locator("#alerts").get_by_role("button", name="Delete"))
        await page.screenshot(path=screenshot_path("alerts-390"), full_page=True)
        await hook.get_by_role("button", name="Delete").click()
        await expect(hook).to_have_count(0)

    await page.goto("/ui/usage")
    await expect(page.locator("#usage-chart")).to_have_attribute("data-days", "30")
    await fits_the_width(page)
    await within_reach(page.locator("#usage-chart canvas"))
    await within_reach(page.locator("table.keys tbody tr"))
    await page.screenshot(path=screenshot_path("usage-390"), full_page=True)

    await page.goto(TARGET_PAGE)
    await expect(page.locator("#chart")).to_have_attribute("data-range-loaded", "true")
    await fits_the_width(page)
    for name in ("CSV", "NDJSON"):
        await within_reach(page.get_by_role("link", name=name))
    await within_reach(page.get_by_role("button", name="Add alert"))
    await within_reach(page.get_by_label("Threshold"))
    delete = page.locator("#alerts").get_by_role("button", name="Delete")
    await within_reach(delete)
    await page.screenshot(path=screenshot_path("target-390"), full_page=True)
    await delete.click()
    await expect(page.locator("#alerts")).to_contain_text("No alerts on this target")
    assert elsewhere == []
