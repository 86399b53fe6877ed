"""Waits between retries of something that is down (MySQL, Redis), shared by the services."""

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Waits after consecutive failures: doubling from `base` up to `cap`, with jitter."""

    base: float = 0.5
    cap: float = 10.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failure in a row."""
        ceiling = min(self.cap, self.base * 2 ** min(failures - 1, 30))
        # Jitter spreads the replicas' retries so they do not all hit a recovering server at once.
        return random.uniform(ceiling / 2, ceiling)
