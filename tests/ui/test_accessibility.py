"""Every page passes axe-core's WCAG 2 A and AA rules (contrast, labels, names, landmarks)
at both widths: run in Chromium on the page as a user gets it, with targets, alerts and a
webhook on it."""

from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, ViewportSize, expect

from tests.api.support import INFLUENCER, POST, Sessions
from tests.e2e.stack import Stack
from tests.ui.conftest import DESKTOP, PHONE, offline_page
from tests.ui.test_dashboard import seed_profile

# A dev dependency of the dashboard's npm packages (make install), never served by the API.
AXE = Path(__file__).parents[2] / "services/api/web/node_modules/axe-core/axe.min.js"
PAGES = ("/", "/?kind=post", "/ui/targets/influencer/natgeo", "/ui/alerts", "/ui/usage")
RUN_AXE = """async () => {
    const found = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}});
    return {
        passed: found.passes.map((rule) => rule.id),
        violations: found.violations.map((v) => ({
            rule: v.id, impact: v.impact, help: v.help,
            where: v.nodes.slice(0, 3).map((node) => node.target.join(' ')),
        })),
    };
}"""


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
async def test_every_page_meets_wcag_2_aa(
    api_only: Stack, browser: Browser, sessions: Sessions, viewport: ViewportSize
) -> None:
    await seed_profile(sessions, api_only, days=10)
    async with httpx.AsyncClient(base_url=api_only.api_url, timeout=10) as api:
        created = await api.post(
            f"{POST.prefix}/create_monitor_task",
            json={"post_url": "https://www.instagram.com/p/CxYQJO8xuC6/", "interval": "1h"},
        )
        assert created.status_code == 201, created.text
        [task] = (await api.get(f"{INFLUENCER.prefix}/tasks")).json()["data"]
        alert = await api.post(
            "/api/v1/alerts",
            json={
                "task_id": task["task_id"],
                "metric": "follower_count",
                "condition": "above",
                "threshold": 5_000_000,
            },
        )
        assert alert.status_code == 201, alert.text
    page, elsewhere = await offline_page(browser, api_only, viewport)
    checked: set[str] = set()
    for path in PAGES:
        await page.goto(path)
        await expect(page.locator("main h1")).to_be_visible()
        await page.add_script_tag(path=AXE)
        found = await page.evaluate(RUN_AXE)
        assert found["violations"] == [], path
        checked.update(found["passed"])
    # The rules that matter here were checked, not skipped for want of elements.
    assert {"color-contrast", "label", "select-name", "button-name", "link-name"} <= checked
    assert elsewhere == []
