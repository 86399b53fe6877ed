"""Injected failures and latency, drawn from seedable generators so tests can repeat them."""

import random
from dataclasses import dataclass, field

from services.sandbox.knobs import FaultKnobs

SERVER_ERRORS = (500, 502, 503)
# TikHub's documented limit; sent back in X-RateLimit-Limit like a real gateway would.
DOCUMENTED_RATE_LIMIT = 10


@dataclass(frozen=True, slots=True)
class InjectedFailure:
    """A failure to answer with instead of data."""

    status: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)


class FaultInjector:
    """Decides, call by call, whether to delay, rate-limit or fail according to the knobs."""

    def __init__(self, knobs: FaultKnobs) -> None:
        self._knobs = knobs
        self._failures = random.Random()
        self._latency = random.Random()
        self._seed(knobs.seed)

    @property
    def knobs(self) -> FaultKnobs:
        """The knobs in force."""
        return self._knobs

    def update(self, knobs: FaultKnobs, *, reseed: bool) -> None:
        """Put new knobs in force; `reseed` restarts the generators from `knobs.seed`."""
        self._knobs = knobs
        if reseed:
            self._seed(knobs.seed)

    def _seed(self, seed: int | None) -> None:
        # Two generators, so turning jitter on or off does not change which calls fail.
        self._failures.seed(seed)
        self._latency.seed(None if seed is None else seed + 1)

    def delay_seconds(self) -> float:
        """How long to wait before answering this call."""
        knobs = self._knobs
        jitter = self._latency.uniform(0, knobs.latency_jitter_ms) if knobs.latency_jitter_ms else 0
        return (knobs.latency_ms + jitter) / 1000

    def outage(self) -> InjectedFailure | None:
        """The failure every data call gets during a full outage, else None."""
        if not self._knobs.outage:
            return None
        return InjectedFailure(503, "Service temporarily unavailable. Please retry later.")

    def draw(self, now: float) -> InjectedFailure | None:
        """A rate limit or server error for this call, with the configured odds, else None."""
        knobs = self._knobs
        if knobs.rate_limit_rate and self._failures.random() < knobs.rate_limit_rate:
            return self._rate_limited(now)
        if knobs.error_rate and self._failures.random() < knobs.error_rate:
            status = self._failures.choice(SERVER_ERRORS)
            return InjectedFailure(status, "Internal error while fetching upstream. Please retry.")
        return None

    def _rate_limited(self, now: float) -> InjectedFailure:
        wait = self._knobs.retry_after_seconds
        # TikHub clients have seen X-RateLimit-Reset both as seconds and as a unix time; send
        # both forms so a client must handle each.
        reset = wait if self._failures.random() < 0.5 else int(now) + wait
        return InjectedFailure(
            429,
            f"Rate limit exceeded. Please retry after {wait} seconds.",
            {
                "Retry-After": str(wait),
                "X-RateLimit-Limit": str(DOCUMENTED_RATE_LIMIT),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(reset),
            },
        )
