"""The TikHub client: Instagram profile and post endpoints, their fallback chain and retries."""

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic

import httpx
import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from services.collector.key_pool import PoolKey
from services.collector.metrics import CollectorMetrics
from services.collector.payloads import (
    FeedPost,
    PostSnapshot,
    ProfileSnapshot,
    SnapshotT,
    merge_posts,
    merge_profiles,
    parse_user_posts,
)
from services.collector.rate_limiter import Turn
from services.collector.tikhub_errors import ErrorKind, TikHubError, read_payload
from services.collector.usage import BudgetExhausted, UsageLedger
from shared.logs import SecretScrubber
from shared.tikhub_usage import (
    ACCOUNT,
    POST_BY_URL,
    POST_V2,
    POST_V3,
    PROFILE_V1,
    PROFILE_V3,
    USER_POSTS_V1,
    USER_POSTS_V2,
)

__all__ = [
    "POST_BY_URL",
    "POST_V2",
    "POST_V3",
    "PROFILE_V1",
    "PROFILE_V3",
    "USER_POSTS_V1",
    "USER_POSTS_V2",
    "TikHubClient",
]

log = structlog.get_logger()

# One page of a creator's feed: the newest 12 posts that are not pinned (up to 3 are) and,
# for the posting cadence, as far back as one page reaches.
USER_POSTS_PAGE = 50

# TikHub's own SDK backs off 0.5 s, 1 s, 2 s... ±25 %, capped at 30 s; so do we. A 429's
# Retry-After is honoured up to the same cap.
BACKOFF_INITIAL_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0
BACKOFF_JITTER = 0.25
# "Retry once or twice" for a 400: the upstream fetch failed, which a retry sometimes fixes.
UPSTREAM_ATTEMPTS = 3

Call = tuple[str, dict[str, str]]


@dataclass(frozen=True, slots=True)
class Fetched(Generic[SnapshotT]):
    """The merged numbers of one collection and the raw payloads they came from."""

    snapshot: SnapshotT
    payloads: tuple[Any, ...]
    request_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FetchedFeed:
    """The first page of a creator's feed, newest first (pinned posts where the feed puts
    them)."""

    posts: tuple[FeedPost, ...]
    request_id: str | None


def post_url(code: str) -> str:
    """The canonical URL of a post, as the by-URL endpoint wants it."""
    return f"https://www.instagram.com/p/{code}/"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a call is for (the ledger's task, empty for none), the key it goes with, and the
    collection's place in the key's line when it has one."""

    key: PoolKey
    task_id: str = ""
    turn: Turn | None = None


class TikHubClient:
    """Fetches profiles and posts. Each HTTP attempt first checks the daily budget and takes a
    token from its key's rate limiter, and is counted in the usage ledger."""

    def __init__(
        self,
        *,
        api_keys: Sequence[str],
        max_attempts: int,
        ledger: UsageLedger,
        metrics: CollectorMetrics,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.max_attempts = max_attempts
        self.ledger = ledger
        self.metrics = metrics
        self.sleep = sleep
        self.scrubber = SecretScrubber(api_keys)

    async def fetch_profile(self, username: str, caller: Caller) -> Fetched[ProfileSnapshot]:
        """A profile's counts: v1 first; v3 when v1 fails or leaves a count out."""
        calls = [(PROFILE_V1, {"username": username}), (PROFILE_V3, {"username": username})]
        fetched = await self._chain(calls, merge_profiles, caller)
        if not fetched.snapshot.has_counts:
            if fetched.snapshot.is_private:
                raise TikHubError(ErrorKind.TARGET, "the account is private", endpoint=calls[-1][0])
            raise TikHubError(
                ErrorKind.UPSTREAM, "no profile counts in any answer", endpoint=calls[-1][0]
            )
        return fetched

    async def fetch_post(self, code: str, caller: Caller) -> Fetched[PostSnapshot]:
        """A post's counts: v1 by URL (cheapest) first, then v2 and v3 for what is missing."""
        calls = [
            (POST_BY_URL, {"post_url": post_url(code)}),
            (POST_V2, {"code_or_url": code}),
            (POST_V3, {"code": code}),
        ]
        fetched = await self._chain(calls, merge_posts, caller)
        if not fetched.snapshot.has_counts:
            raise TikHubError(
                ErrorKind.UPSTREAM, "no post counts in any answer", endpoint=calls[-1][0]
            )
        return fetched

    async def fetch_user_posts(
        self, username: str, caller: Caller, *, user_id: int | None
    ) -> FetchedFeed:
        """A creator's newest posts: v1 by user id (cheapest) when the id is known, else or
        when it fails, v2 by username."""
        calls: list[Call] = [(USER_POSTS_V2, {"username": username})]
        if user_id is not None:
            calls.insert(
                0, (USER_POSTS_V1, {"user_id": str(user_id), "count": str(USER_POSTS_PAGE)})
            )
        for endpoint, params in calls:
            try:
                payload, request_id = await self._call(endpoint, params, caller)
                posts = parse_user_posts(payload)
                if posts is None:
                    raise TikHubError(
                        ErrorKind.UPSTREAM, "no list of posts in the answer", endpoint=endpoint
                    )
            except TikHubError as error:
                if error.permanent or endpoint == calls[-1][0]:
                    raise
                log.info("collector.tikhub_next_endpoint", endpoint=endpoint, error=str(error))
                continue
            return FetchedFeed(tuple(posts), request_id)
        raise AssertionError("the last endpoint either answers or raises")

    async def account(self, caller: Caller) -> Any:
        """TikHub's account details of the caller's key (balance, free credit); free of charge."""
        payload, _ = await self._call(ACCOUNT, {}, caller)
        return payload

    async def _chain(
        self, calls: Sequence[Call], merge: Callable[[Sequence[Any]], SnapshotT], caller: Caller
    ) -> Fetched[SnapshotT]:
        # Endpoints are asked in order until the merged answer has every count. A later
        # endpoint only fills gaps; when it fails, what the earlier ones said is kept.
        payloads: list[Any] = []
        request_ids: list[str] = []
        snapshot: SnapshotT | None = None
        for endpoint, params in calls:
            try:
                payload, request_id = await self._call(endpoint, params, caller)
            except BudgetExhausted:
                # What the calls before paid for is kept; only a slot with nothing is skipped.
                if snapshot is not None and snapshot.has_counts:
                    break
                raise
            except TikHubError as error:
                if snapshot is not None and snapshot.has_counts:
                    log.info("collector.tikhub_gap_unfilled", endpoint=endpoint, error=str(error))
                    break
                if error.permanent or endpoint == calls[-1][0]:
                    raise
                log.info("collector.tikhub_next_endpoint", endpoint=endpoint, error=str(error))
                continue
            payloads.append(payload)
            if request_id:
                request_ids.append(request_id)
            snapshot = merge(payloads)
            if snapshot.complete:
                break
        assert snapshot is not None, "the last endpoint either answers or raises"
        return Fetched(snapshot, tuple(payloads), tuple(request_ids))

    async def _call(
        self, endpoint: str, params: dict[str, str], caller: Caller
    ) -> tuple[Any, str | None]:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TikHubError),
            stop=self._stop,
            wait=self._wait,
            sleep=self.sleep,
            before_sleep=_log_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._attempt(endpoint, params, caller)
        raise AssertionError("tenacity either returns or re-raises")

    async def _attempt(
        self, endpoint: str, params: dict[str, str], caller: Caller
    ) -> tuple[Any, str | None]:
        await self.ledger.ensure_budget(endpoint)
        limiter = caller.key.limiter
        grant = await limiter.acquire(caller.turn)
        started = time.perf_counter()

        async def confirm_grant() -> None:
            # A stale grant books again here; that wait is the limiter's, not TikHub's latency.
            nonlocal started
            await limiter.confirm(grant)
            started = time.perf_counter()

        try:
            response = await caller.key.http.get(endpoint, params, before_write=confirm_grant)
        except httpx.TimeoutException as error:
            # TikHub may well have received it: a call all the same, never billed.
            await self._count(endpoint, caller, answered=False)
            self._observe(endpoint, "timeout", started)
            raise TikHubError(
                ErrorKind.TRANSIENT, f"timed out ({type(error).__name__})", endpoint=endpoint
            ) from None
        except httpx.TransportError as error:
            await self._count(endpoint, caller, answered=False)
            self._observe(endpoint, "transport", started)
            raise TikHubError(
                ErrorKind.TRANSIENT, f"transport error ({type(error).__name__})", endpoint=endpoint
            ) from None
        await self._count(endpoint, caller, answered=response.is_success)
        self._observe(endpoint, str(response.status_code), started)
        payload = read_payload(response, endpoint=endpoint, scrubber=self.scrubber)
        return payload, response.headers.get("x-request-id")

    async def _count(self, endpoint: str, caller: Caller, *, answered: bool) -> None:
        await self.ledger.record(
            task_id=caller.task_id,
            endpoint=endpoint,
            fingerprint=caller.key.fingerprint,
            answered=answered,
        )

    def _observe(self, endpoint: str, status: str, started: float) -> None:
        self.metrics.tikhub_latency.labels(endpoint).observe(time.perf_counter() - started)
        self.metrics.tikhub_responses.labels(endpoint, status).inc()

    def _stop(self, state: RetryCallState) -> bool:
        error = state.outcome.exception() if state.outcome else None
        return state.attempt_number >= self._attempts_for(error)

    def _attempts_for(self, error: BaseException | None) -> int:
        if not isinstance(error, TikHubError):
            return 1
        if error.kind is ErrorKind.TRANSIENT:
            return self.max_attempts
        if error.kind is ErrorKind.UPSTREAM and error.status == 400:
            return min(UPSTREAM_ATTEMPTS, self.max_attempts)
        return 1

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, TikHubError) and error.retry_after is not None:
            return min(error.retry_after, BACKOFF_MAX_SECONDS)
        backoff = BACKOFF_INITIAL_SECONDS * 2.0 ** (state.attempt_number - 1)
        return min(backoff, BACKOFF_MAX_SECONDS) * random.uniform(
            1 - BACKOFF_JITTER, 1 + BACKOFF_JITTER
        )


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, TikHubError):
        log.warning(
            "collector.tikhub_retry",
            endpoint=error.endpoint,
            status=error.status,
            request_id=error.request_id,
            attempt=state.attempt_number,
            wait_seconds=round(state.upcoming_sleep, 3),
            error=str(error),
        )
