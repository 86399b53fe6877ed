"""Start-up configuration of the sandbox, read from SANDBOX_* environment variables."""

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.sandbox.knobs import FaultKnobs, Fraction, LatencyMs, RetryAfterSeconds, Usd

# 2026-01-01T00:00:00Z. Follower growth is measured from here and every post is "published" in
# the day before it, so numbers are stable across restarts and across processes.
DEFAULT_EPOCH = 1_767_225_600


class SandboxSettings(BaseSettings):
    """Everything the sandbox reads at start-up; the fault knobs can change later at runtime."""

    model_config = SettingsConfigDict(
        env_prefix="SANDBOX_", env_file=".env", extra="ignore", frozen=True
    )

    host: str = "127.0.0.1"
    port: int = Field(default=9100, ge=0, le=65535)
    # Empty accepts any non-empty Bearer token, which is what local development wants.
    api_key: SecretStr = SecretStr("")
    # More accepted tokens, comma-separated, for a pool of keys.
    api_keys: SecretStr = SecretStr("")

    latency_ms: LatencyMs = 0
    latency_jitter_ms: LatencyMs = 0
    error_rate: Fraction = 0.0
    rate_limit_rate: Fraction = 0.0
    retry_after_seconds: RetryAfterSeconds = 1
    outage: bool = False
    seed: int | None = None
    # Comma-separated, like the collector's TIKHUB_API_KEYS.
    rejected_keys: Annotated[frozenset[str], NoDecode] = frozenset()
    balance_usd: Usd = 100.0
    free_credit_usd: Usd = 0.0

    epoch: int = DEFAULT_EPOCH
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"

    @field_validator("seed", mode="before")
    @classmethod
    def _empty_seed_means_unseeded(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level_any_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("rejected_keys", mode="before")
    @classmethod
    def _comma_separated_keys(cls, value: object) -> object:
        return _split(value) if isinstance(value, str) else value

    def accepted_keys(self) -> frozenset[str]:
        """Every token the sandbox accepts; empty means any non-empty one."""
        raw = [self.api_key.get_secret_value(), self.api_keys.get_secret_value()]
        return frozenset(key for part in raw for key in _split(part))

    def fault_knobs(self) -> FaultKnobs:
        """The start-up values of the knobs the admin endpoint can change later."""
        return FaultKnobs.model_validate(self.model_dump(include=set(FaultKnobs.model_fields)))


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]
