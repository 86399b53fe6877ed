"""The fault knobs that can change while the sandbox runs, with their valid ranges."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# Shared by the settings (start-up values) and the admin endpoint (runtime changes), so both
# refuse the same values.
LatencyMs = Annotated[int, Field(ge=0, le=60_000)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
RetryAfterSeconds = Annotated[int, Field(ge=0, le=3_600)]
Usd = Annotated[float, Field(ge=0)]


class FaultKnobs(BaseModel):
    """How slow and how unreliable the sandbox is right now."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency_ms: LatencyMs = 0
    latency_jitter_ms: LatencyMs = 0
    error_rate: Fraction = 0.0
    rate_limit_rate: Fraction = 0.0
    retry_after_seconds: RetryAfterSeconds = 1
    outage: bool = False
    seed: int | None = None
    # Bearer tokens answered 401 as if TikHub had revoked them (the others still work).
    rejected_keys: frozenset[str] = frozenset()
    # What the account endpoint reports.
    balance_usd: Usd = 100.0
    free_credit_usd: Usd = 0.0


class FaultKnobsUpdate(BaseModel):
    """A partial change to the knobs; fields left out keep their current value."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: LatencyMs | None = None
    latency_jitter_ms: LatencyMs | None = None
    error_rate: Fraction | None = None
    rate_limit_rate: Fraction | None = None
    retry_after_seconds: RetryAfterSeconds | None = None
    outage: bool | None = None
    rejected_keys: frozenset[str] | None = None
    balance_usd: Usd | None = None
    free_credit_usd: Usd | None = None
    # null is meaningful here: it switches back to an unseeded generator.
    seed: int | None = None

    def apply_to(self, knobs: FaultKnobs) -> FaultKnobs:
        """The knobs with this update's explicitly given fields applied, validated again."""
        changes = self.model_dump(exclude_unset=True)
        return FaultKnobs.model_validate({**knobs.model_dump(), **changes})
