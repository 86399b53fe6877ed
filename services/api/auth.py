"""The one authentication and rate-limit step: every `/api/v1` request and every dashboard
request passes it, once.

A pure ASGI middleware in front of the routes: it reads the key (X-API-Key, else
Authorization: Bearer, else the dashboard's session cookie), takes one token from the key's
bucket, asks MySQL only for a key neither vouched for nor found unknown lately, and only
while the client address has failed to authenticate rarely enough; it puts the
X-RateLimit-* headers on whatever answers, and the caller on the request. The probes,
/metrics, the docs, the sign-in page and the static assets stay open: orchestrators and
scrapers hold no key, and a browser needs the page that asks for one.

A key from the cookie rides along on any request the browser makes to this site, so a request
that changes something must also carry the header htmx sends (HX-Request): a cross-site form
cannot set a header, and a cross-site script may not without a CORS grant this API never gives.
The cookie is SameSite=Strict as well, which already keeps it off cross-site requests.
"""

import asyncio
from dataclasses import dataclass
from typing import Any, cast

import structlog
from fastapi import FastAPI
from redis.exceptions import RedisError
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from services.api.api_keys import hash_key, invalid_key
from services.api.error_handlers import render_error
from services.api.errors import Forbidden, RateLimited, Unauthorized
from services.api.rate_limit import FailuresExhausted, RateDecision, Unvouched
from services.api.request_context import add_response_headers
from services.api.runtime import Runtime

log = structlog.get_logger()

PROTECTED_PREFIX = "/api/v1/"
# The dashboard: its home page, and everything under /ui/.
DASHBOARD_HOME = "/"
DASHBOARD_PREFIX = "/ui/"
SIGN_IN_PATH = "/signin"
# The dashboard keeps the key it was given in this cookie (HttpOnly, SameSite=Strict).
SESSION_COOKIE = "monitor_key"
# What htmx sends on every request it makes; see the module's docstring.
SAME_ORIGIN_HEADER = "hx-request"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# How often a request waiting for another's lookup of its key asks Redis again.
LOOKUP_POLL_SECONDS = 0.02
# Where the caller travels on the request (request.state.caller).
CALLER = "caller"
# Two ways to send the same key; both appear in the OpenAPI document, so Swagger UI's
# "Authorize" button offers them.
SECURITY_SCHEMES = {
    "ApiKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "An API key (`python -m services.api keys create NAME`)",
    },
    "BearerKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "The same API key, as `Authorization: Bearer <key>`",
    },
}


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a request: the SHA-256 of its API key (never the key)."""

    key_hash: str


class ApiKeyAuth:
    """Lets a request to the API through with an active key within its rate limit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_protected(scope["path"]):
            await self.app(scope, receive, send)
            return
        runtime = cast(Runtime, scope["app"].state.runtime)
        try:
            caller = await _admit(runtime, scope)
        except Exception as error:  # rendered exactly as the routes' errors are
            response = _refusal(scope, error)
            if response is None:
                raise
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})[CALLER] = caller
        await self.app(scope, receive, send)


def is_protected(path: str) -> bool:
    """Whether a request to `path` needs a key: the API's routes and the dashboard's."""
    return (
        path.startswith(PROTECTED_PREFIX)
        or path == DASHBOARD_HOME
        or path.startswith(DASHBOARD_PREFIX)
    )


def _refusal(scope: Scope, error: Exception) -> Response | None:
    """A browser opening a dashboard page without a valid key is sent to the sign-in page;
    everything else gets the error envelope."""
    headers = Headers(scope=scope)
    page_visit = (
        scope["path"] == DASHBOARD_HOME or scope["path"].startswith(DASHBOARD_PREFIX)
    ) and (scope["method"] == "GET" and SAME_ORIGIN_HEADER not in headers)
    if page_visit and isinstance(error, Unauthorized):
        return RedirectResponse(SIGN_IN_PATH, status_code=303)
    return render_error(error)


async def _admit(runtime: Runtime, scope: Scope) -> Caller:
    headers = Headers(scope=scope)
    key = offered_key(headers)
    if not key:
        key = HTTPConnection(scope).cookies.get(SESSION_COOKIE)
        if key and scope["method"] not in SAFE_METHODS and SAME_ORIGIN_HEADER not in headers:
            raise Forbidden(
                "A request signed in by the dashboard's cookie must come from the dashboard "
                "(with its HX-Request header); other clients send the key in X-API-Key.",
                code="cross_site_request",
            )
    if not key:
        raise Unauthorized(
            "Send an API key in the X-API-Key header or as Authorization: Bearer <key>, "
            "or sign in on the dashboard.",
            code="missing_api_key",
        )
    key_hash = hash_key(key)
    try:
        decision = await _take(runtime, key_hash, client_address(scope))
    except RedisError as error:
        # Better served unlimited than not at all; MySQL alone still says who may come in.
        log.warning("api.rate_limit_unavailable", error=repr(error))
        await runtime.api_keys.check(key_hash, record_use=False)
        return Caller(key_hash)
    add_response_headers(scope, decision.headers())
    if not decision.allowed:
        settings = runtime.settings
        raise RateLimited(
            f"This API key is over its limit of {settings.api_rate_limit_per_second:g} requests "
            f"per second (bursts of {settings.api_rate_limit_burst}); retry in "
            f"{decision.retry_after_seconds} s.",
            headers={"Retry-After": str(decision.retry_after_seconds)},
        )
    return Caller(key_hash)


def offered_key(headers: Headers) -> str | None:
    """The API key a request sends: X-API-Key first, else Authorization: Bearer."""
    key = headers.get("x-api-key")
    if key:
        return key
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or None


def client_address(scope: Scope) -> str:
    """The address failed authentications are counted against (the proxy's, unless trusted)."""
    client = scope.get("client")
    return client[0] if client else "unknown"


async def _take(runtime: Runtime, key_hash: str, client: str) -> RateDecision:
    limiter = runtime.rate_limiter
    answer = await limiter.take(key_hash, client)
    # Another request of this key is asking MySQL: wait for its answer (the lock it holds
    # lapses by itself, so this ends).
    while answer is Unvouched.BEING_LOOKED_UP:
        await asyncio.sleep(LOOKUP_POLL_SECONDS)
        answer = await limiter.take(key_hash, client)
    if answer is Unvouched.LOOK_UP:
        # Not checked lately: ask MySQL (which raises for an unknown or revoked key), note the
        # use, then let Redis vouch for the key for a while. last_used_at is thus written about
        # once a minute per key in use, whatever the traffic.
        try:
            await runtime.api_keys.check(key_hash, record_use=True)
        except Unauthorized:
            await limiter.remember_unknown(key_hash)
            raise
        await limiter.vouch(key_hash, client)
        answer = await limiter.take(key_hash, client)
    elif isinstance(answer, RateDecision) and answer.recheck:
        # The mark was renewed ahead of its expiry; this one request asks MySQL again, so a
        # key revoked behind the API's back is still refused within the mark's lifetime.
        try:
            await runtime.api_keys.check(key_hash, record_use=True)
        except Unauthorized:
            await limiter.remember_unknown(key_hash)
            raise
    if isinstance(answer, FailuresExhausted):
        settings = runtime.settings
        raise RateLimited(
            f"Too many requests from this address with an unknown or revoked API key (more "
            f"than {settings.api_auth_failure_burst}, then "
            f"{settings.api_auth_failures_per_minute:g} a minute); retry in "
            f"{answer.retry_after_seconds} s.",
            code="too_many_failed_authentications",
            headers={"Retry-After": str(answer.retry_after_seconds)},
        )
    if isinstance(answer, Unvouched):  # found unknown lately, or revoked in the meantime
        raise invalid_key()
    return answer


def document_api_keys(app: FastAPI) -> None:
    """Declare the key schemes in the OpenAPI document, on every operation this step guards."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        document.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
        for path, operations in document["paths"].items():
            if path.startswith(PROTECTED_PREFIX):
                for operation in operations.values():
                    operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
        return document

    app.openapi = openapi  # type: ignore[method-assign]
