"""Every Redis key the services share, under one configurable prefix."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RedisKeys:
    """Key names for one deployment; two deployments (or test runs) differ by prefix."""

    prefix: str

    def pause(self, task_id: str) -> str:
        """Set while a task is paused; the collector checks it before any work."""
        return f"{self.prefix}:pause:{task_id}"

    @property
    def pause_flags_restored(self) -> str:
        """Set once the scheduler has set every paused task's flag; missing: Redis lost them."""
        return f"{self.prefix}:pause-flags-restored"

    def influencer_history(self, user_id: int) -> str:
        """The API's cached default history view of a profile."""
        return f"{self.prefix}:history:influencer:{user_id}"

    def post_history(self, post_code: str) -> str:
        """The API's cached default history view of a post."""
        return f"{self.prefix}:history:post:{post_code}"

    def fallback(self, task_id: str) -> str:
        """The last good TikHub payload of a task, used when a fetch fails."""
        return f"{self.prefix}:fallback:{task_id}"

    @property
    def collector_queue(self) -> str:
        """The arq queue the scheduler fills and the collector drains."""
        return f"{self.prefix}:queue:collector"

    def collector_health_check(self, worker: str) -> str:
        """Refreshed by one collector process (named by its host); `--check` reads it."""
        return f"{self.collector_queue}:health-check:{worker}"

    def tikhub_rate_limiter(self, fingerprint: str) -> str:
        """The request budget of one TikHub key, shared by all collector processes."""
        return f"{self.prefix}:tikhub:ratelimit:{fingerprint}"

    def tikhub_breaker(self, fingerprint: str) -> str:
        """The circuit-breaker state of one TikHub key, shared by all collector processes."""
        return f"{self.prefix}:tikhub:breaker:{fingerprint}"

    @property
    def tikhub_pool(self) -> str:
        """A hash the collectors refresh: key fingerprint → that key's calls per second."""
        return f"{self.prefix}:tikhub:pool"

    @property
    def tikhub_usage_pending(self) -> str:
        """A hash of TikHub call counts not yet in MySQL (fields: see the collector's ledger)."""
        return f"{self.prefix}:tikhub:usage:pending"

    def tikhub_usage_batch(self, batch_id: str) -> str:
        """Counts taken out of the pending hash by one flush, until MySQL has them."""
        return f"{self.prefix}:tikhub:usage:batch:{batch_id}"

    @property
    def tikhub_usage_batches(self) -> str:
        """A set of the ids of the flush batches still in Redis."""
        return f"{self.prefix}:tikhub:usage:batches"

    def tikhub_spend(self, day: str) -> str:
        """Today's TikHub cost in millionths of a dollar, for the daily budget."""
        return f"{self.prefix}:tikhub:spend:{day}"

    def tikhub_budget_skips(self, day: str) -> str:
        """Slots skipped on one UTC day because the daily budget was spent."""
        return f"{self.prefix}:tikhub:budget-skips:{day}"

    def tikhub_balance(self, fingerprint: str) -> str:
        """The account balance TikHub last reported for one key (JSON), expiring when stale."""
        return f"{self.prefix}:tikhub:balance:{fingerprint}"

    @property
    def tikhub_balance_poll(self) -> str:
        """Held for the poll interval by the collector that last asked TikHub for the balance."""
        return f"{self.prefix}:tikhub:balance-poll"

    @property
    def scheduler_heartbeat(self) -> str:
        """A sorted set: each scheduler replica (by host name) → its last tick, in epoch seconds."""
        return f"{self.prefix}:scheduler:heartbeat"

    def api_rate_limit(self, key_id: str) -> str:
        """The request budget of one API key."""
        return f"{self.prefix}:api:ratelimit:{key_id}"

    def api_key_checked(self, key_id: str) -> str:
        """Set for a while after an API key was found active in MySQL; revoking deletes it."""
        return f"{self.prefix}:api:checked:{key_id}"

    def api_key_unknown(self, key_id: str) -> str:
        """Set for a while after MySQL had no active key of this hash; creating it deletes this."""
        return f"{self.prefix}:api:unknown:{key_id}"

    def api_key_lookup(self, key_id: str) -> str:
        """Held for a moment by the one request that asks MySQL about this key hash."""
        return f"{self.prefix}:api:lookup:{key_id}"

    def api_auth_failures(self, client: str) -> str:
        """The budget of failed authentications of one client address."""
        return f"{self.prefix}:api:auth-failures:{client}"
