"""Dashboard benchmark: the targets table of 1,000 profiles rendered by the API, and a year of
hourly points charted by Chromium.

Seeds a database and Redis prefix of this run's own (removed at the end) with 1,000 profiles,
each with 30 daily points, and one more profile with 8,760 hourly points (a year).

- table:  the targets page as opened, a later page of its table and a filtered one (50 rows a
          page: latest count, 7-day change, sparkline), rendered by the API app in this
          process (httpx's ASGI transport: no network);
- chart:  the real `python -m services.api`, the profile's page in Debian's Chromium at 1,280 px;
          for each range, the time from the click to the chart drawn (the history fetched,
          uPlot built), measured in the page.

Medians and p95 go to bench/RESULTS.md (section "Dashboard"). `make bench-dashboard`.
"""

import asyncio
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from api import bench_settings, free_port, machine, server, write_section
from httpx import ASGITransport, AsyncClient
from playwright.async_api import async_playwright

from services.api.app import create_app
from shared.db import create_engine, create_session_factory
from shared.models import Source
from shared.repositories.history import HistoryRepository
from shared.repositories.tasks import TaskRepository
from shared.settings import Settings

SECTION = "## Dashboard"
PROFILES = 1_000
TREND_DAYS = 30
YEAR_HOURS = 365 * 24
TABLE_RUNS = 30
CHART_RUNS = 10
CHROMIUM = os.environ.get("TEST_CHROMIUM", "/usr/bin/chromium")
TABLE_GOAL_MS = 150
CHART_GOAL_MS = 300


def point(task_id: str, user_id: int, moment: datetime, followers: int) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "username": f"user{user_id}",
        "bio": "",
        "follower_count": followers,
        "following_count": 150,
        "post_count": 1_000,
        "recorded_at": moment,
        "task_id": task_id,
        "scheduled_for": moment,
        "source": Source.LIVE,
    }


async def seed(settings: Settings) -> None:
    """1,000 profiles with a month of daily points, and `yearly` with a year of hourly ones."""
    engine = create_engine(settings)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    try:
        async with create_session_factory(engine).begin() as session:
            tasks = TaskRepository(session)
            names = [f"user{n}" for n in range(PROFILES)] + ["yearly"]
            ids = await tasks.create_many(
                names,
                interval_seconds=3600,
                next_run_at=[now + timedelta(days=1)] * len(names),
                now=now - timedelta(days=365),
            )
            history = HistoryRepository(session)
            rows = []
            for n, task_id in enumerate(ids[:-1]):
                await tasks.record_success(task_id, now=now, user_id=n + 1)
                start = now - timedelta(days=TREND_DAYS)
                rows += [
                    point(task_id, n + 1, start + timedelta(days=day), 10_000 + n + 50 * day)
                    for day in range(TREND_DAYS)
                ]
            yearly = ids[-1]
            await tasks.record_success(yearly, now=now, user_id=PROFILES + 1)
            start = now - timedelta(hours=YEAR_HOURS)
            rows += [
                point(yearly, PROFILES + 1, start + timedelta(hours=h), 500_000 + 3 * h)
                for h in range(YEAR_HOURS)
            ]
            for first in range(0, len(rows), 5_000):
                await history.add_influencer_points(rows[first : first + 5_000])
    finally:
        await engine.dispose()


# What a user asks of the table of 1,000 profiles: the page as it opens (its first 50 rows),
# a page further on, and a filter by part of a name; with the rows each answers.
TABLE_VIEWS: dict[str, tuple[str, dict[str, str], int]] = {
    "the page as opened (`GET /`, rows 1-50)": ("/", {}, 50),
    "a later page (`GET /ui/targets/rows?page=15`)": ("/ui/targets/rows", {"page": "15"}, 50),
    "filtered by text (`?q=user99`, 11 rows)": ("/ui/targets/rows", {"q": "user99"}, 11),
}


async def table_times(settings: Settings) -> dict[str, list[float]]:
    app = create_app(settings.model_copy(update={"api_auth": "disabled"}))
    times: dict[str, list[float]] = {view: [] for view in TABLE_VIEWS}
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://dashboard") as client,
    ):
        for run in range(TABLE_RUNS + 3):
            for view, (path, query, rows) in TABLE_VIEWS.items():
                began = time.perf_counter()
                response = await client.get(path, params={"kind": "influencer", **query})
                elapsed = (time.perf_counter() - began) * 1000
                assert response.status_code == 200, response.text
                assert response.text.count('<tr id="row-') == rows, view
                if run >= 3:  # the first ones warm the connection pool and the templates
                    times[view].append(elapsed)
    return times


# Resolves with the milliseconds from the click to the chart being drawn.
CLICK_TO_DRAWN = """(label) => new Promise((resolve) => {
    const chart = document.getElementById('chart');
    const button = [...document.querySelectorAll('.ranges button')]
        .find((b) => b.textContent.trim() === label);
    const began = performance.now();
    const watch = new MutationObserver(() => {
        if (chart.dataset.rangeLoaded === 'true') {
            watch.disconnect();
            resolve([performance.now() - began, Number(chart.dataset.points)]);
        }
    });
    watch.observe(chart, {attributes: true, attributeFilter: ['data-range-loaded']});
    button.click();
})"""


async def chart_times(settings: Settings) -> dict[str, tuple[list[float], int]]:
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_PREFIX": settings.redis_prefix,
        "API_AUTH": "disabled",
        "API_PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }
    results: dict[str, tuple[list[float], int]] = {}
    with server([sys.executable, "-m", "services.api"], port, environment) as api:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM)
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            await page.goto(f"{api.url}/ui/targets/influencer/yearly")
            await page.wait_for_selector("#chart[data-range-loaded='true']")
            for label in ("All", "30 d", "7 d", "24 h"):
                times = []
                points = 0
                for _ in range(CHART_RUNS):
                    elapsed, points = await page.evaluate(CLICK_TO_DRAWN, label)
                    times.append(elapsed)
                results[label] = (times, points)
            await browser.close()
    return results


def summary(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1]


async def benchmark(chromium: str) -> None:
    started = datetime.now(UTC)
    host = machine()
    async with bench_settings() as settings:
        await seed(settings)
        tables = await table_times(settings)
        charts = await chart_times(settings)
    lines = [
        SECTION,
        "",
        f"`make bench-dashboard` (`python bench/dashboard.py`), {started:%Y-%m-%d %H:%M} UTC. "
        f"{host}. {chromium}, headless, 1,280 x 900. MariaDB and Redis local.",
        "",
        "| what | runs | median | p95 | goal |",
        "|---|---|---|---|---|",
    ]
    for view, times in tables.items():
        median, p95 = summary(times)
        lines.append(
            f"| targets table of {PROFILES:,} profiles, {view} "
            f"| {TABLE_RUNS} | {median:.1f} ms | {p95:.1f} ms | < {TABLE_GOAL_MS} ms |"
        )
    for label, (times, points) in charts.items():
        median, p95 = summary(times)
        lines.append(
            f"| chart of a year of hourly points, range {label} ({points} points drawn) "
            f"| {CHART_RUNS} | {median:.1f} ms | {p95:.1f} ms | < {CHART_GOAL_MS} ms |"
        )
    lines += [
        "",
        "- table: the server's whole answer, in process (no network): counting the "
        "profiles the filter lets through, the page's 50 tasks with their tags, their 30 "
        "days of daily roll-up, the value a week before each latest point (one statement) "
        "and the template; the page as opened also lists the tags in use for its filter.",
        "- chart: from the range button's click to uPlot having drawn, in the page: the "
        "history request to the real API process (granularity chosen for the width), JSON "
        "parsing and drawing.",
    ]
    write_section("\n".join(lines), SECTION)
    print("\n".join(lines))


def main() -> None:
    version = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, check=True)
    asyncio.run(benchmark(version.stdout.strip()))


if __name__ == "__main__":
    main()
