"""What a user sees in the dashboard, in a real browser, with no internet."""

import re
from datetime import timedelta
from typing import Any

import httpx
from playwright.async_api import Browser, expect

from shared.models import Source, utcnow
from shared.repositories.history import HistoryRepository
from tests.api.support import INFLUENCER, POST, Sessions, add_api_key, learn_user_id
from tests.e2e.stack import Stack
from tests.ui.conftest import DESKTOP, PHONE, offline_page, painted_pixels, screenshot_path

USER_ID = 787132
POST_CODE = "CxYQJO8xuC6"
# The colours of the first line of each chart (dashboard.js).
FOLLOWERS_LINE = (0x25, 0x63, 0xEB)
LIKES_LINE = (0xDB, 0x27, 0x77)
# The first collection of a new task runs at once, but the machine may be busy.
FIRST_POINT_MS = 90_000


async def api_data(stack: Stack, path: str, key: str | None = None) -> Any:
    headers = {"X-API-Key": key} if key else {}
    async with httpx.AsyncClient(base_url=stack.api_url, headers=headers, timeout=10) as api:
        response = await api.get(path)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def test_a_user_signs_in_adds_a_profile_sees_its_first_point_and_pauses_it(
    product: Stack, browser: Browser, sessions: Sessions
) -> None:
    key = await add_api_key(sessions)
    page, elsewhere = await offline_page(browser, product, DESKTOP)

    await page.goto("/")
    await expect(page).to_have_url(re.compile(r"/signin$"))
    await page.get_by_label("API key").fill("im_not-a-real-key")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#notice")).to_contain_text("unknown or revoked")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{product.api_url}/")
    await expect(page.locator("#targets")).to_contain_text("No profiles yet")

    await page.locator("#add").get_by_label("Username").fill("@NatGeo")
    await page.locator("#add").get_by_label("every").select_option("1h")
    await page.locator("#add").get_by_role("button", name="Add").click()
    await expect(page.locator("#notice")).to_contain_text("first collection runs now")
    row = page.locator("#targets tr", has_text="@natgeo")
    await expect(row.locator("td.status .badge")).to_have_text("active")
    # The table polls: the first collection's count shows up without a reload.
    latest = row.locator("td.latest")
    await expect(latest).to_have_text(re.compile(r"^\d[\d,]*$"), timeout=FIRST_POINT_MS)
    stats = await api_data(product, f"{INFLUENCER.prefix}/user_stats/natgeo", key)
    assert await latest.inner_text() == f"{stats['latest']['follower_count']:,}"
    await page.screenshot(path=screenshot_path("targets-added-1280"), full_page=True)

    await row.get_by_role("button", name="Pause").click()
    await expect(row.locator("td.status .badge")).to_have_text("paused")
    [task] = await api_data(product, f"{INFLUENCER.prefix}/tasks", key)
    assert task["status"] == "paused"
    await row.get_by_role("button", name="Stop").click()
    await expect(row.locator("td.status .badge")).to_have_text("stopped")
    await page.get_by_label("Status").select_option("active")
    await expect(page.locator("#targets")).to_contain_text("Nothing matches this filter")

    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(re.compile(r"/signin$"))
    await page.goto("/")
    await expect(page).to_have_url(re.compile(r"/signin$"))
    assert elsewhere == []


async def seed_profile(sessions: Sessions, stack: Stack, days: int) -> None:
    """A profile monitored hourly for `days` days: +100 followers a day, and one day +5,000."""
    async with httpx.AsyncClient(base_url=stack.api_url) as api:
        created = await api.post(
            f"{INFLUENCER.prefix}/create_monitor_task",
            json={"username": "natgeo", "interval": "1h"},
        )
    task_id = created.json()["data"]["task_id"]
    await learn_user_id(sessions, task_id, USER_ID, utcnow())
    start = (utcnow() - timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    spike = (days - 10) * 24
    rows = []
    for hour in range(days * 24):
        moment = start + timedelta(hours=hour)
        followers = 990_000 - 100 * days + 100 * (hour // 24) + 4 * (hour % 24)
        rows.append(
            {
                "user_id": USER_ID,
                "username": "natgeo",
                "bio": "",
                "follower_count": followers + (5_000 if hour >= spike else 0),
                "following_count": 150,
                "post_count": 2_000 + hour // 48,
                "recorded_at": moment,
                "task_id": task_id,
                "scheduled_for": moment,
                "source": Source.LIVE,
            }
        )
    async with sessions.begin() as session:
        await HistoryRepository(session).add_influencer_points(rows)


async def test_a_profile_page_charts_its_history_and_shows_the_apis_statistics(
    api_only: Stack, browser: Browser, sessions: Sessions
) -> None:
    await seed_profile(sessions, api_only, days=60)
    stats = await api_data(api_only, f"{INFLUENCER.prefix}/user_stats/natgeo")
    page, elsewhere = await offline_page(browser, api_only, DESKTOP)
    await page.goto("/")
    await page.get_by_role("link", name="@natgeo").click()
    await expect(page.get_by_role("heading", name="@natgeo")).to_be_visible()

    chart = page.locator("#chart")
    for range_name in ("24 h", "7 d", "30 d", "All"):
        await page.get_by_role("button", name=range_name, exact=True).click()
        await expect(chart).to_have_attribute("data-range-loaded", "true")
        points = int(await chart.get_attribute("data-points") or 0)
        width = await page.locator("#chart canvas").evaluate("canvas => canvas.clientWidth")
        assert 0 < points <= width, (range_name, points, width)
        assert await painted_pixels(page, "#chart canvas", FOLLOWERS_LINE) > 200, range_name
    assert await chart.get_attribute("data-granularity") == "day"  # 60 days of hours > pixels

    latest = stats["latest"]
    tiles = page.locator(".tile .value")
    assert await tiles.nth(0).inner_text() == f"{latest['follower_count']:,}"
    week = stats["changes"]["7d"]["follower_count"]
    cell = page.locator('tr[data-metric="follower_count"] td[data-window="7d"]')
    await expect(cell).to_contain_text(f"+{week['delta']:,}")
    await expect(cell).to_contain_text(f"+{week['pct']:.2f}%")
    gain = stats["average_daily_follower_gain"]["30d"]
    await expect(page.locator("#gain-30d")).to_contain_text(f"+{gain:,.2f}")
    milestone = stats["milestone"]
    await expect(page.locator("#milestone")).to_contain_text(
        f"{milestone['follower_count']:,} followers in {milestone['days']} days"
    )
    assert stats["anomalies"], "the seeded spike is an anomaly"
    for anomaly in stats["anomalies"]:
        await expect(page.locator(".anomaly", has_text=str(anomaly["date"]))).to_be_visible()
    await expect(page.locator("table.points tbody tr")).to_have_count(20)
    await page.screenshot(path=screenshot_path("profile-1280"), full_page=True)
    await page.screenshot(path=screenshot_path("profile-1280-top"))

    phone, _ = await offline_page(browser, api_only, PHONE)
    await phone.goto("/ui/targets/influencer/natgeo")
    await expect(phone.locator("#chart")).to_have_attribute("data-range-loaded", "true")
    points = int(await phone.locator("#chart").get_attribute("data-points") or 0)
    assert 0 < points <= PHONE["width"]
    overflow = await phone.evaluate("document.documentElement.scrollWidth")
    assert overflow <= PHONE["width"], "the page scrolls sideways on a phone"
    await phone.screenshot(path=screenshot_path("profile-390"), full_page=True)
    await phone.goto("/")
    row = phone.locator("#targets tr", has_text="@natgeo")
    await expect(row.locator("td.latest")).to_have_text(f"{latest['follower_count']:,}")
    await expect(row.locator("td.change")).to_contain_text(f"+{week['delta']:,}")
    await expect(row.locator("svg.spark polyline")).to_have_count(1)
    assert await phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await phone.screenshot(path=screenshot_path("targets-added-390"), full_page=True)
    assert elsewhere == []


async def test_a_post_page_shows_its_velocity_and_engagement(
    api_only: Stack, browser: Browser, sessions: Sessions
) -> None:
    async with httpx.AsyncClient(base_url=api_only.api_url) as api:
        created = await api.post(
            f"{POST.prefix}/create_monitor_task",
            json={"post_url": f"https://www.instagram.com/reel/{POST_CODE}/", "interval": "30m"},
        )
    task_id = created.json()["data"]["task_id"]
    start = utcnow() - timedelta(days=2)
    rows = [
        {
            "post_code": POST_CODE,
            "post_id": "3170000000000000001",
            "like_count": 1_000 + 37 * n,
            "comment_count": 50 + n // 3,
            "play_count": 20_000 + 400 * n,
            "recorded_at": start + timedelta(minutes=30 * n),
            "task_id": task_id,
            "scheduled_for": start + timedelta(minutes=30 * n),
            "source": Source.LIVE,
        }
        for n in range(96)
    ]
    async with sessions.begin() as session:
        await HistoryRepository(session).add_post_points(rows)
    stats = await api_data(api_only, f"{POST.prefix}/video_stats/{POST_CODE}")

    page, elsewhere = await offline_page(browser, api_only, DESKTOP)
    await page.goto("/?kind=post")
    await page.get_by_role("link", name=POST_CODE).click()
    await expect(page.locator("#chart")).to_have_attribute("data-range-loaded", "true")
    assert await painted_pixels(page, "#chart canvas", LIKES_LINE) > 200
    likes = stats["velocity"]["likes_per_hour"]["24h"]
    await expect(page.locator('[data-velocity="likes_per_hour"]')).to_contain_text(
        f"+{likes:,.0f} likes/h" if float(likes).is_integer() else f"+{likes:,.2f} likes/h"
    )
    rate = stats["engagement_rate_by_plays"]
    await expect(page.locator("#engagement-plays")).to_contain_text(f"{rate:.2f}%")
    await page.screenshot(path=screenshot_path("post-1280"), full_page=True)
    assert elsewhere == []


async def test_the_api_docs_work_without_internet(api_only: Stack, browser: Browser) -> None:
    page, elsewhere = await offline_page(browser, api_only, DESKTOP)
    await page.goto("/docs")
    await expect(page.locator(".opblock").first).to_be_visible()
    assert await page.locator(".opblock").count() >= 14
    assert elsewhere == []


async def test_the_targets_page_works_from_the_keyboard(api_only: Stack, browser: Browser) -> None:
    page, elsewhere = await offline_page(browser, api_only, DESKTOP)
    await page.goto("/")
    await expect(page.locator("#targets")).to_contain_text("No profiles yet")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    username = page.locator("#add").get_by_label("Username")
    await username.focus()
    await page.keyboard.type("natgeo")
    await page.keyboard.press("Enter")
    row = page.locator("#targets tr", has_text="@natgeo")
    await expect(row.locator("td.status .badge")).to_have_text("active")
    pause = row.get_by_role("button", name="Pause")
    for _ in range(20):  # from the form, through the filter and the row, to its first button
        if await pause.evaluate("button => button === document.activeElement"):
            break
        await page.keyboard.press("Tab")
    await expect(pause).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(row.locator("td.status .badge")).to_have_text("paused")
    assert elsewhere == []
