"""Helpers the sandbox tests share: a clock the test moves, and the client factory's type."""

from collections.abc import Callable

import httpx

# 2026-09-21T...Z: any fixed instant works; the metrics are a pure function of it.
FIXED_NOW = 1_790_000_000.0
TEST_KEY = "sandbox-test-key"

ClientFactory = Callable[..., httpx.AsyncClient]


class FakeClock:
    """A clock that stands still until the test moves it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
