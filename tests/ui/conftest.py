"""Browser tests: Debian's Chromium, driven by Playwright, against the real processes."""

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import (
    Browser,
    Page,
    Route,
    ViewportSize,
    async_playwright,
    expect,
)

from shared.settings import Settings
from tests.api.support import Sessions
from tests.e2e.stack import Stack, running_stack

CHROMIUM = os.environ.get("TEST_CHROMIUM", "/usr/bin/chromium")
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
# A busy machine renders slowly; waits are generous, and none is a timing goal.
WAIT_MS = 30_000
expect.set_options(timeout=WAIT_MS)


CHROMIUM_INSTALLED = Path(CHROMIUM).exists()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM_INSTALLED:
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (bash .ci/run does)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        await browser.close()


async def offline_page(
    browser: Browser, stack: Stack, viewport: ViewportSize
) -> tuple[Page, list[str]]:
    """A page that may reach the product and nothing else, and the other URLs it asked for
    (refused, as they would be without internet)."""
    context = await browser.new_context(viewport=viewport, base_url=stack.api_url)
    context.set_default_timeout(WAIT_MS)
    elsewhere: list[str] = []

    async def only_the_product(route: Route) -> None:
        if route.request.url.startswith(stack.api_url):
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort()

    await context.route("**/*", only_the_product)
    page = await context.new_page()
    # "Stop monitoring …?" is answered yes.
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    return page, elsewhere


@pytest.fixture
async def product(settings: Settings, sessions: Sessions, tmp_path: Path) -> AsyncIterator[Stack]:
    """Sandbox, API (keys required), scheduler and collector."""
    async with running_stack(
        settings,
        tmp_path,
        ("sandbox", "api", "scheduler", "collector"),
        {"API_AUTH": "required"},
    ) as stack:
        yield stack


@pytest.fixture
async def api_only(settings: Settings, sessions: Sessions, tmp_path: Path) -> AsyncIterator[Stack]:
    """The API alone (no keys): pages over history the test writes itself."""
    async with running_stack(settings, tmp_path, ("api",)) as stack:
        yield stack


def screenshot_path(name: str) -> Path:
    """Where a test leaves what the browser showed (outside the repository)."""
    default = Path(tempfile.gettempdir()) / "instagram-monitor-ui"
    folder = Path(os.environ.get("TEST_SCREENSHOTS", default))
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.png"


async def painted_columns(page: Page, canvas: str, colour: tuple[int, int, int]) -> list[float]:
    """Where the pixels of `colour` (a chart line's, say) are on the `canvas` (a selector):
    each one's x, from 0 at the canvas's left edge to 1 at its right."""
    columns: list[float] = await page.evaluate(
        """([selector, [r, g, b]]) => {
            const canvas = document.querySelector(selector);
            const context = canvas.getContext('2d');
            const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
            const painted = [];
            for (let i = 0; i < pixels.length; i += 4) {
                const near = Math.abs(pixels[i] - r) + Math.abs(pixels[i + 1] - g)
                    + Math.abs(pixels[i + 2] - b);
                if (pixels[i + 3] > 200 && near < 40) {
                    painted.push(((i / 4) % canvas.width) / canvas.width);
                }
            }
            return painted;
        }""",
        [canvas, list(colour)],
    )
    return columns


async def painted_pixels(page: Page, canvas: str, colour: tuple[int, int, int]) -> int:
    """How many pixels of the `canvas` (a selector) have `colour`."""
    return len(await painted_columns(page, canvas, colour))
