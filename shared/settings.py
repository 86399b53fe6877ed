"""Configuration read from the environment (and a `.env` file), built once at process start."""

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.tikhub_usage import DEFAULT_PRICES_USD

# Keys that only ever appear in examples and templates; refusing them outside development stops a
# deployment from silently running with a copied placeholder.
PLACEHOLDER_SECRETS = frozenset({"changeme", "change-me", "your-tikhub-api-key", "xxx", "secret"})


class Settings(BaseSettings):
    """Every setting of every service; each service reads the ones it needs."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    environment: Literal["development", "production"] = "development"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"

    database_url: str = "mysql+asyncmy://root@127.0.0.1:3306/instagram_monitor"
    database_pool_size: int = Field(default=10, ge=1)
    # Below MariaDB/MySQL's default wait_timeout (8 h) and typical proxy idle cut-offs.
    database_pool_recycle_seconds: int = Field(default=1800, ge=1)
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = Field(default="im", pattern=r"^[A-Za-z0-9_.-]{1,64}$")

    tikhub_base_url: str = "https://api.tikhub.io"
    tikhub_api_key: SecretStr = SecretStr("")
    tikhub_rate_limit_per_second: float = Field(default=10.0, gt=0)
    tikhub_timeout_seconds: float = Field(default=30.0, gt=0)
    tikhub_max_attempts: int = Field(default=4, ge=1, le=10)
    # More keys, comma-separated, pooled with TIKHUB_API_KEY: each brings its own rate limit.
    tikhub_api_keys: SecretStr = SecretStr("")
    tikhub_daily_budget_usd: float | None = Field(default=None, ge=0)
    tikhub_prices_usd: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_PRICES_USD))

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    api_auth: Literal["required", "disabled"] = "required"
    api_rate_limit_per_second: float = Field(default=20.0, gt=0)
    api_rate_limit_burst: int = Field(default=40, ge=1)
    api_max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    api_body_timeout_seconds: float = Field(default=10.0, gt=0)
    # History imports (up to 100,000 points a request) have limits of their own.
    api_max_import_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    api_import_body_timeout_seconds: float = Field(default=120.0, gt=0)
    api_auth_failures_per_minute: float = Field(default=10.0, gt=0)
    api_auth_failure_burst: int = Field(default=10, ge=1)

    scheduler_tick_seconds: float = Field(default=1.0, gt=0)
    scheduler_batch_size: int = Field(default=1000, ge=1, le=10000)
    # Local by default, like the API; a container sets 0.0.0.0 so a scraper can reach it.
    scheduler_metrics_host: str = "127.0.0.1"
    scheduler_metrics_port: int = Field(default=9101, ge=0, le=65535)
    scheduler_heartbeat_ttl_seconds: int = Field(default=30, ge=2)
    scheduler_claim_lease_seconds: int = Field(default=60, ge=1)

    collector_max_jobs: int = Field(default=100, ge=1)
    collector_poll_delay_seconds: float = Field(default=0.1, gt=0)
    collector_job_timeout_seconds: int = Field(default=300, ge=1)
    collector_job_lease_seconds: int = Field(default=30, ge=2)
    collector_keep_result_seconds: int = Field(default=60, ge=0)
    collector_health_check_interval_seconds: int = Field(default=30, ge=1)
    collector_metrics_host: str = "127.0.0.1"
    collector_metrics_port: int = Field(default=9102, ge=0, le=65535)
    collector_rate_limit_max_wait_seconds: float = Field(default=2.0, gt=0)
    collector_breaker_failure_threshold: int = Field(default=5, ge=1)
    collector_breaker_cooloff_seconds: float = Field(default=30.0, gt=0)
    # Redis usage counters reach MySQL this often: losing Redis loses at most this much.
    collector_usage_flush_seconds: float = Field(default=30.0, gt=0, le=60)
    # TikHub's account endpoint is asked for the balance no more often than this.
    collector_balance_poll_seconds: int = Field(default=600, ge=600)

    @field_validator("tikhub_daily_budget_usd", mode="before")
    @classmethod
    def _empty_budget_means_no_cap(cls, value: object) -> object:
        return None if value == "" else value

    def tikhub_key_pool(self) -> list[str]:
        """Every configured TikHub key, TIKHUB_API_KEY first, each once."""
        raw = [self.tikhub_api_key.get_secret_value()]
        raw += self.tikhub_api_keys.get_secret_value().split(",")
        return list(dict.fromkeys(key.strip() for key in raw if key.strip()))

    # Off by default: a webhook could otherwise reach the services' own network.
    webhook_allow_private_targets: bool = False


class CollectorSettings(Settings):
    """The collector's settings: the one service that calls TikHub, so the one that needs a key
    (the API and the scheduler start without it)."""

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> "CollectorSettings":
        pool = self.tikhub_key_pool()
        placeholder = any(key.lower() in PLACEHOLDER_SECRETS for key in pool)
        if self.environment == "production" and (not pool or placeholder):
            raise ValueError(
                "TIKHUB_API_KEY must be set to a real key (or TIKHUB_API_KEYS to real keys) "
                "when ENVIRONMENT=production"
            )
        return self
