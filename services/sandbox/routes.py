"""The TikHub data paths the sandbox serves: Instagram profiles and posts.

Every call goes through the same gate, in this order: it is counted, delayed by the configured
latency, refused with 503 during an outage, refused with 401 (or 402) for a bad key, then maybe
answered with an injected 429 or 5xx. Only then is the query itself looked at.
"""

import asyncio
from collections.abc import Callable
from functools import cached_property, partial
from typing import Any

from fastapi import APIRouter, Request, Response

from services.sandbox import shapes
from services.sandbox.auth import Credential, bearer_token, check_bearer
from services.sandbox.drift import PostMetrics, ProfileMetrics, post_at, profile_at, user_id_for
from services.sandbox.envelope import (
    CHARGED,
    FREE,
    error_body,
    missing_parameter_body,
    success_body,
)
from services.sandbox.faults import InjectedFailure
from services.sandbox.feed import FeedPage, decode_cursor, feed_page
from services.sandbox.rules import PostKind, ProfileRule, post_kind, profile_rule
from services.sandbox.state import SandboxState, sandbox_state
from services.sandbox.targets import shortcode_from, user_id_from, username_from

PROFILE_V1 = "/api/v1/instagram/v1/fetch_user_info_by_username_v3"
PROFILE_V3 = "/api/v1/instagram/v3/get_user_profile"
PROFILE_DEMO = "/api/v1/demo/instagram/web/fetch_user_info"
POST_V2 = "/api/v1/instagram/v2/fetch_post_info"
POST_V3 = "/api/v1/instagram/v3/get_post_info_by_code"
POST_BY_URL = "/api/v1/instagram/v1/fetch_post_by_url"
USER_POSTS_V1 = "/api/v1/instagram/v1/fetch_user_posts"
USER_POSTS_V2 = "/api/v1/instagram/v2/fetch_user_posts"
USER_REELS_V2 = "/api/v1/instagram/v2/fetch_user_reels"
# v1 takes `count` (Instagram's own page is 12, at most 50); v2 pages are always 12 posts.
DEFAULT_PAGE = 12
MAX_PAGE = 50
ACCOUNT = "/api/v1/tikhub/user/get_user_info"
DEMO_USERNAME = "instagram"
UPSTREAM_FAILED = "Request failed. Please retry."

ProfileShape = Callable[[str, ProfileMetrics, ProfileRule], dict[str, Any]]
FeedShape = Callable[[str, int, FeedPage], dict[str, Any]]
PostShape = Callable[[str, PostMetrics, PostKind], dict[str, Any]]

router = APIRouter(tags=["TikHub Instagram (sandbox)"])


class DataCall:
    """One data call being answered: its path, parameters, request id and possible answers."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.state: SandboxState = sandbox_state(request)
        self.router = request.url.path
        self.params = dict(request.query_params)
        self.request_id: str = request.state.request_id

    @cached_property
    def now(self) -> float:
        """The instant the call is answered (read once, after any injected latency)."""
        return self.state.clock()

    def succeed(self, data: Any, *, message: str = CHARGED) -> Response:
        """The success envelope around `data`."""
        body = success_body(
            request_id=self.request_id,
            router=self.router,
            params=self.params,
            data=data,
            now=self.now,
            message=message,
        )
        return Response(body, media_type="application/json")

    def fail(
        self,
        status: int,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Response:
        """TikHub's error body with `status`."""
        body = error_body(
            status=status,
            message=message,
            router=self.router,
            params=self.params,
            now=self.now,
            extra=extra,
        )
        return Response(body, status_code=status, headers=headers, media_type="application/json")

    def missing_parameter(self, name: str) -> Response:
        """The 422 for a required query parameter that was not sent."""
        body = missing_parameter_body(name)
        return Response(body, status_code=422, media_type="application/json")

    async def gate(
        self, *, username: str | None = None, shortcode: str | None = None
    ) -> Response | None:
        """Count the call, then apply latency, outage, auth and injected failures to it."""
        state = self.state
        authorization = self.request.headers.get("authorization")
        state.calls.record(
            path=self.router,
            username=username,
            shortcode=shortcode,
            token=bearer_token(authorization),
        )
        delay = state.faults.delay_seconds()
        if delay > 0:
            await asyncio.sleep(delay)
        if (outage := state.faults.outage()) is not None:
            return self._injected(outage)
        credential = check_bearer(
            authorization,
            accepted=state.settings.accepted_keys(),
            rejected=state.faults.knobs.rejected_keys,
        )
        if credential in (Credential.MISSING, Credential.INVALID):
            return self.fail(
                401,
                "Authentication failed: send a valid API key as 'Authorization: Bearer <key>'.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if credential is Credential.NO_BALANCE:
            # The real 402 echoes the request headers, key included; so does the sandbox, so
            # callers can prove they redact it before logging.
            return self.fail(
                402,
                "Insufficient balance. Please top up your account.",
                extra={"headers": {"authorization": authorization}},
            )
        if (failure := state.faults.draw(self.now)) is not None:
            return self._injected(failure)
        return None

    def _injected(self, failure: InjectedFailure) -> Response:
        return self.fail(failure.status, failure.message, headers=failure.headers)


async def _answer_profile(
    request: Request,
    *,
    raw_username: str | None,
    shape: ProfileShape,
    missing_user_is_404: bool = False,
    message: str = CHARGED,
) -> Response:
    call = DataCall(request)
    username = None if raw_username is None else username_from(raw_username)
    if (refusal := await call.gate(username=username)) is not None:
        return refusal
    if raw_username is None:
        return call.missing_parameter("username")
    if username is None:
        return call.fail(400, UPSTREAM_FAILED)
    return _profile_of(
        call, username, shape=shape, missing_user_is_404=missing_user_is_404, message=message
    )


def _profile_of(
    call: DataCall,
    username: str,
    *,
    shape: ProfileShape,
    missing_user_is_404: bool,
    message: str,
) -> Response:
    rule = profile_rule(username)
    if rule is ProfileRule.NOT_FOUND:
        if missing_user_is_404:
            return call.fail(404, "User not found.")
        # v1 answers a user that does not exist with HTTP 200 and an inner code 400.
        return call.succeed(shapes.USER_NOT_FOUND, message=message)
    metrics = profile_at(username, call.now, epoch=call.state.settings.epoch)
    call.state.usernames_by_id[metrics.user_id] = username
    return call.succeed(shape(username, metrics, rule), message=message)


async def _answer_post(
    request: Request, *, raw: str | None, parameter: str, shape: PostShape
) -> Response:
    call = DataCall(request)
    shortcode = None if raw is None else shortcode_from(raw)
    if (refusal := await call.gate(shortcode=shortcode)) is not None:
        return refusal
    if raw is None:
        return call.missing_parameter(parameter)
    if shortcode is None:
        return call.fail(400, UPSTREAM_FAILED)
    kind = post_kind(shortcode)
    if kind is PostKind.MISSING:
        return call.fail(404, "Post not found.")
    # A post some creator's feed listed keeps that creator and publication time.
    origin = call.state.feed_origins.get(shortcode)
    metrics = post_at(shortcode, call.now, epoch=call.state.settings.epoch, origin=origin)
    return call.succeed(shape(shortcode, metrics, kind))


async def _answer_feed(
    request: Request,
    *,
    raw_username: str | None,
    raw_user_id: str | None,
    required: str,
    cursor: str | None,
    count: str | None,
    shape: FeedShape,
    videos_only: bool = False,
) -> Response:
    call = DataCall(request)
    by_id = raw_username is None
    user_id = None if raw_user_id is None else user_id_from(raw_user_id)
    if raw_username is not None:
        username = username_from(raw_username)
    else:
        username = None if user_id is None else call.state.usernames_by_id.get(user_id)
    if (refusal := await call.gate(username=username)) is not None:
        return refusal
    if raw_username is None and raw_user_id is None:
        return call.missing_parameter(required)
    page_size = _page_size(count)
    if page_size is None or (user_id is None if by_id else username is None):
        return call.fail(400, UPSTREAM_FAILED)
    if username is None:
        # An id this process never served for a username cannot be reversed (ids are hashes).
        return call.fail(404, "User not found.")
    if profile_rule(username) is ProfileRule.NOT_FOUND:
        return call.fail(404, "User not found.")
    after = None if cursor is None else decode_cursor(username, cursor)
    if cursor is not None and after is None:
        return call.fail(400, UPSTREAM_FAILED)
    epoch = call.state.settings.epoch
    page = feed_page(
        username, call.now, epoch=epoch, count=page_size, after=after, videos_only=videos_only
    )
    for post in page.posts:
        call.state.feed_origins[post.shortcode] = post.origin
    return call.succeed(shape(username, user_id_for(username), page))


def _page_size(count: str | None) -> int | None:
    if count is None:
        return DEFAULT_PAGE
    text = count.strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE:
        return None
    return int(text)


# v3 and the by-URL path share the items[0] shape but name the play count differently, as
# TikHub's own responses do.
_items_post_v3 = partial(shapes.items_post, play_key="ig_play_count")
_items_post_by_url = partial(shapes.items_post, play_key="play_count")


@router.get(PROFILE_V1, summary="Profile by username: flat shape (v1)")
async def fetch_user_info_by_username_v3(request: Request, username: str | None = None) -> Response:
    """A profile with its counts at the top of `data`."""
    return await _answer_profile(request, raw_username=username, shape=shapes.flat_profile)


@router.get(PROFILE_V3, summary="Profile by username or user id: edge_* shape (v3)")
async def get_user_profile(
    request: Request, username: str | None = None, user_id: str | None = None
) -> Response:
    """A profile with its counts under `data.user.edge_*`; an unknown user is a 404."""
    if username is not None or user_id is None:
        return await _answer_profile(
            request, raw_username=username, shape=shapes.graph_profile, missing_user_is_404=True
        )
    call = DataCall(request)
    parsed_id = user_id_from(user_id)
    known = None if parsed_id is None else call.state.usernames_by_id.get(parsed_id)
    if (refusal := await call.gate(username=known)) is not None:
        return refusal
    if parsed_id is None:
        return call.fail(400, UPSTREAM_FAILED)
    if known is None:
        return call.fail(404, "User not found.")
    return _profile_of(
        call, known, shape=shapes.graph_profile, missing_user_is_404=True, message=CHARGED
    )


@router.get(PROFILE_DEMO, summary="Free demo: always @instagram, flat shape")
async def demo_fetch_user_info(request: Request) -> Response:
    """The free smoke-test call: the @instagram profile in the flat shape."""
    return await _answer_profile(
        request, raw_username=DEMO_USERNAME, shape=shapes.flat_profile, message=FREE
    )


@router.get(POST_V2, summary="Post by shortcode or URL: data.data.metrics shape (v2)")
async def fetch_post_info(request: Request, code_or_url: str | None = None) -> Response:
    """A post with its counts under `data.data.metrics`; plays are null for non-videos."""
    return await _answer_post(
        request, raw=code_or_url, parameter="code_or_url", shape=shapes.metrics_post
    )


@router.get(POST_V3, summary="Post by shortcode: items[0] shape (v3)")
async def get_post_info_by_code(request: Request, code: str | None = None) -> Response:
    """A post as `data.items[0]`; videos carry plays as `ig_play_count`."""
    return await _answer_post(request, raw=code, parameter="code", shape=_items_post_v3)


@router.get(POST_BY_URL, summary="Post by URL: items[0] shape (v1)")
async def fetch_post_by_url(request: Request, post_url: str | None = None) -> Response:
    """A post as `data.items[0]`; videos carry plays as `play_count`."""
    return await _answer_post(request, raw=post_url, parameter="post_url", shape=_items_post_by_url)


@router.get(USER_POSTS_V1, summary="A creator's posts by user id: data.items shape (v1)")
async def fetch_user_posts_v1(
    request: Request,
    user_id: str | None = None,
    count: str | None = None,
    max_id: str | None = None,
) -> Response:
    """The newest posts (pinned ones first), `count` of them (12 unless said, at most 50); the
    next page with `max_id` = the answer's `next_max_id`."""
    return await _answer_feed(
        request,
        raw_username=None,
        raw_user_id=user_id,
        required="user_id",
        cursor=max_id,
        count=count,
        shape=shapes.items_feed,
    )


def _v2_feed(path: str, summary: str, doc: str, *, reels: bool) -> None:
    """Register a v2 feed path: by username or user id, 12 posts a page, `pagination_token`."""

    async def answer(
        request: Request,
        username: str | None = None,
        user_id: str | None = None,
        pagination_token: str | None = None,
    ) -> Response:
        return await _answer_feed(
            request,
            raw_username=username,
            raw_user_id=user_id,
            required="username",
            cursor=pagination_token,
            count=None,
            shape=partial(shapes.nested_feed, wrap_media=reels),
            videos_only=reels,
        )

    answer.__doc__ = doc
    router.add_api_route(path, answer, methods=["GET"], summary=summary)


_v2_feed(
    USER_POSTS_V2,
    "A creator's posts by username or user id: data.data.items (v2)",
    "12 posts a page, pinned ones first; the next page with the answer's `pagination_token`.",
    reels=False,
)
_v2_feed(
    USER_REELS_V2,
    "A creator's reels by username or user id (v2)",
    'The videos of the feed only, each wrapped as `{"media": …}`, 12 a page.',
    reels=True,
)


@router.get(ACCOUNT, summary="The key's TikHub account: balance and free credit (free)")
async def get_user_info(request: Request) -> Response:
    """The account behind the Bearer key, as TikHub reports it: `data.user_data.balance` and
    `free_credit` in USD, from the `balance_usd` and `free_credit_usd` knobs."""
    call = DataCall(request)
    if (refusal := await call.gate()) is not None:
        return refusal
    knobs = call.state.faults.knobs
    return call.succeed(
        {
            "user_data": {
                "email": "sandbox@example.com",
                "balance": knobs.balance_usd,
                "free_credit": knobs.free_credit_usd,
                "is_active": True,
            }
        },
        message=FREE,
    )
