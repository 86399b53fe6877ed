"""The targets page in a real browser: adding many at once, tags, health, the inline
interval, filters and pages."""

import re
from datetime import timedelta
from typing import Any

import httpx
from playwright.async_api import Browser, expect
from sqlalchemy import update

from shared.models import Source, Task, TaskHealth, utcnow
from shared.repositories.history import HistoryRepository
from tests.api.support import INFLUENCER, Sessions, learn_user_id
from tests.e2e.stack import Stack
from tests.ui.conftest import DESKTOP, PHONE, offline_page, screenshot_path


async def tasks_by_name(stack: Stack) -> dict[str, dict[str, object]]:
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=10) as api:
        response = await api.get(f"{INFLUENCER.prefix}/tasks")
    assert response.status_code == 200, response.text
    return {task["username"]: task for task in response.json()["data"]}


async def test_a_user_pastes_many_profiles_tags_them_and_changes_an_interval_inline(
    api_only: Stack, browser: Browser, sessions: Sessions
) -> None:
    page, elsewhere = await offline_page(browser, api_only, DESKTOP)
    await page.goto("/")
    add = page.locator("#add")
    await add.get_by_label("Username").fill("natgeo")
    await add.get_by_role("button", name="Add").click()
    await expect(page.locator("#targets tr", has_text="@natgeo")).to_be_visible()

    bulk = page.locator("#bulk")
    # Opened by itself while the table was empty; it stays open.
    await expect(bulk).to_be_visible()
    await bulk.get_by_label("one per line").fill("nasa\n\nnatgeo\nbad/name\n@BBCNews")
    await bulk.get_by_label("Tags").fill("Brand-X, space")
    await bulk.get_by_role("button", name="Add all").click()
    notice = page.locator("#notice")
    await expect(notice).to_contain_text("2 added")
    await expect(notice).to_contain_text("1 already monitored (line 3: natgeo)")
    await expect(notice).to_contain_text("1 not added: line 4: bad/name")
    # What was not added stays in the box to be corrected.
    await expect(bulk.get_by_label("one per line")).to_have_value("bad/name")

    nasa = page.locator("#targets tr", has_text="@nasa")
    await expect(nasa.locator("a.tag")).to_have_text(["brand-x", "space"])
    await expect(nasa.locator("td.health .badge")).to_have_text("pending")
    tasks = await tasks_by_name(api_only)
    assert tasks["bbcnews"]["tags"] == ["brand-x", "space"]
    assert tasks["natgeo"]["tags"] == []

    await nasa.get_by_label("Interval of nasa").select_option("1d")
    await expect(notice).to_have_text("nasa is now collected every 1d, from its next slot.")
    assert (await tasks_by_name(api_only))["nasa"]["interval_seconds"] == 86_400

    # A tag takes the table to the targets carrying it; the address keeps the filter.
    await nasa.locator("a.tag", has_text="brand-x").click()
    await expect(page).to_have_url(re.compile(r"tag=brand-x"))
    await expect(page.locator("#targets tbody tr")).to_have_count(2)
    await expect(page.locator("#targets")).not_to_contain_text("@natgeo")

    # Health changes show up without a reload: the table polls.
    async with sessions.begin() as session:
        await session.execute(
            update(Task)
            .where(Task.username == "bbcnews")
            .values(health=TaskHealth.UNAVAILABLE, consecutive_failures=3, last_error="not found")
        )
    bbc = page.locator("#targets tr", has_text="@bbcnews")
    await expect(bbc.locator("td.health")).to_contain_text("unavailable")
    await expect(bbc.locator("td.health .badge")).to_have_attribute("title", "not found")
    await page.screenshot(path=screenshot_path("targets-bulk-1280"), full_page=True)
    assert elsewhere == []


async def test_the_table_pages_through_many_targets_and_keeps_its_place(
    api_only: Stack, browser: Browser
) -> None:
    names = [f"creator{n:03d}" for n in range(62)]
    async with httpx.AsyncClient(base_url=api_only.api_url, timeout=30) as api:
        response = await api.post(
            f"{INFLUENCER.prefix}/create_monitor_tasks",
            json={"usernames": names, "interval": "1h", "tags": ["bulk"]},
        )
    assert response.status_code == 200, response.text
    page, elsewhere = await offline_page(browser, api_only, DESKTOP)
    await page.goto("/")
    rows = page.locator("#targets tbody tr")
    await expect(rows).to_have_count(50)
    pager = page.locator(".pager")
    await expect(pager).to_contain_text("1\N{EN DASH}50 of 62 · page 1 of 2")
    await expect(pager.get_by_role("button", name="Previous")).to_be_disabled()
    first_page = set(await rows.locator("th a:not(.tag)").all_inner_texts())

    await pager.get_by_role("button", name="Next").click()
    await expect(pager).to_contain_text("51\N{EN DASH}62 of 62 · page 2 of 2")
    await expect(rows).to_have_count(12)
    await expect(page).to_have_url(re.compile(r"page=2"))
    second_page = set(await rows.locator("th a:not(.tag)").all_inner_texts())
    assert first_page | second_page == {f"@{name}" for name in names}
    assert not first_page & second_page
    # A reload (or a shared link) shows the same page.
    await page.reload()
    await expect(pager).to_contain_text("page 2 of 2")

    # Filtering starts again from the first page of what it finds.
    await page.get_by_label("Filter").fill("creator00")
    await expect(rows).to_have_count(10)
    await expect(pager).to_have_text("10 profiles")
    await expect(pager.get_by_role("button")).to_have_count(0)

    phone, _ = await offline_page(browser, api_only, PHONE)
    await phone.goto("/")
    await expect(phone.locator("#targets tbody tr")).to_have_count(50)
    overflow = await phone.evaluate(
        "document.scrollingElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    first = phone.locator("#targets tbody tr").first
    await expect(first.get_by_role("combobox", name=re.compile("^Interval of"))).to_be_visible()
    await expect(first.get_by_role("button", name="Pause")).to_be_visible()
    await phone.screenshot(path=screenshot_path("targets-paged-390"), full_page=False)
    assert elsewhere == []


def daily_rows(
    task_id: str, user_id: int, days: int, first: int, step: int
) -> list[dict[str, Any]]:
    """One point a day for `days` days up to today, `first` followers then `step` more a day."""
    today = utcnow().replace(hour=9, minute=0, second=0, microsecond=0)
    rows = []
    for day in range(days):
        moment = today - timedelta(days=days - 1 - day)
        rows.append(
            {
                "user_id": user_id,
                "username": f"user{user_id}",
                "bio": "",
                "follower_count": first + step * day,
                "following_count": 300,
                "post_count": 1_200,
                "recorded_at": moment,
                "task_id": task_id,
                "scheduled_for": moment,
                "source": Source.LIVE,
            }
        )
    return rows


async def test_each_row_shows_the_latest_count_its_change_over_7_days_and_a_trend_line(
    api_only: Stack, browser: Browser, sessions: Sessions
) -> None:
    # username: (days of points, first count, change a day, tags)
    profiles = {
        "natgeo": (30, 1_000_000, 1_000, ["brand-x", "travel"]),
        "bbcnews": (30, 500_000, -50, ["news"]),
        "nasa": (30, 90_000, 0, ["brand-x", "science"]),
        "newcomer": (1, 4_321, 0, []),
    }
    async with httpx.AsyncClient(base_url=api_only.api_url, timeout=10) as api:
        for name, (_, _, _, tags) in profiles.items():
            body = {"usernames": [name], "interval": "1h", "tags": tags}
            response = await api.post(f"{INFLUENCER.prefix}/create_monitor_tasks", json=body)
            assert response.status_code == 200, response.text
    tasks = await tasks_by_name(api_only)
    for user_id, (name, (days, first, step, _)) in enumerate(profiles.items(), start=1):
        task_id = str(tasks[name]["task_id"])
        await learn_user_id(sessions, task_id, user_id, utcnow())
        async with sessions.begin() as session:
            await HistoryRepository(session).add_influencer_points(
                daily_rows(task_id, user_id, days, first, step)
            )

    page, elsewhere = await offline_page(browser, api_only, DESKTOP)
    await page.goto("/")
    for name, (days, first, step, _) in profiles.items():
        row = page.locator("#targets tr", has_text=f"@{name}")
        latest = first + step * (days - 1)
        await expect(row.locator("td.latest")).to_have_text(f"{latest:,}")
        if days < 8:
            # No point a week before the latest one: no change to show, and no trend line.
            await expect(row.locator("td.change")).to_have_text("\N{EM DASH}")
            await expect(row).to_contain_text("no trend yet")
            continue
        then = latest - 7 * step
        sign = "+" if step > 0 else "\N{MINUS SIGN}" if step < 0 else ""
        change = f"{sign}{abs(7 * step):,}" if step else "0"
        pct = f"{sign}{abs(7 * step) / then * 100:.2f}%"
        await expect(row.locator("td.change")).to_have_text(f"{change} ({pct})")
        await expect(row.locator("svg.spark polyline")).to_have_count(1)
    # The trend line rises left to right for a growing profile (SVG's y grows downwards).
    points = (
        await page.locator("#targets tr", has_text="@natgeo")
        .locator("polyline")
        .get_attribute("points")
    )
    assert points is not None
    heights = [float(pair.split(",")[1]) for pair in points.split()]
    assert heights[0] > heights[-1]
    assert heights == sorted(heights, reverse=True)
    await page.screenshot(path=screenshot_path("targets-1280"))
    phone, _ = await offline_page(browser, api_only, PHONE)
    await phone.goto("/")
    await expect(phone.locator("#targets tr", has_text="@natgeo")).to_be_visible()
    await phone.screenshot(path=screenshot_path("targets-390"), full_page=True)
    assert elsewhere == []
