"""The protected routes' dependency: an API key is required, and its rate limit applies."""

from typing import Annotated

import structlog
from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from redis.exceptions import RedisError
from starlette.requests import HTTPConnection

from services.api.api_keys import hash_key, invalid_key
from services.api.dependencies import RuntimeDep
from services.api.errors import RateLimited, Unauthorized
from services.api.rate_limit import RateDecision
from services.api.request_context import RATE_DECISION, REDIS_FAILED, add_response_headers
from services.api.runtime import Runtime

log = structlog.get_logger()

# Two ways to send the same key; both appear in the OpenAPI document, so Swagger UI's
# "Authorize" button offers them.
API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key",
    scheme_name="ApiKeyHeader",
    description="An API key (`python -m services.api keys create NAME`)",
    auto_error=False,
)
BEARER = HTTPBearer(
    scheme_name="BearerKey",
    description="The same API key, as `Authorization: Bearer <key>`",
    auto_error=False,
)


async def offered_key(connection: HTTPConnection) -> str | None:
    """The API key a request sends: X-API-Key first, else Authorization: Bearer."""
    return _either_key(await API_KEY_HEADER(connection), await BEARER(connection))


async def authenticate(
    request: Request,
    runtime: RuntimeDep,
    header_key: Annotated[str | None, Security(API_KEY_HEADER)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
) -> None:
    """Let the request through with an active key that is within its rate limit."""
    key = _either_key(header_key, bearer)
    if not key:
        raise Unauthorized(
            "Send an API key in the X-API-Key header or as Authorization: Bearer <key>.",
            code="missing_api_key",
        )
    key_hash = hash_key(key)
    state = request.scope.get("state", {})
    # The cached-read shortcut may have taken this request's token, or found Redis failing.
    decision: RateDecision | None = state.get(RATE_DECISION)
    failure: RedisError | None = state.get(REDIS_FAILED)
    if decision is None and failure is None:
        try:
            decision = await _take(runtime, key_hash)
        except RedisError as error:
            failure = error
    if decision is None:
        # Better served unlimited than not at all; MySQL alone still says who may come in.
        log.warning("api.rate_limit_unavailable", error=repr(failure))
        await runtime.api_keys.check(key_hash, record_use=False)
        return
    add_response_headers(request.scope, decision.headers())
    if not decision.allowed:
        settings = runtime.settings
        raise RateLimited(
            f"This API key is over its limit of {settings.api_rate_limit_per_second:g} requests "
            f"per second (bursts of {settings.api_rate_limit_burst}); retry in "
            f"{decision.retry_after_seconds} s.",
            headers={"Retry-After": str(decision.retry_after_seconds)},
        )


def _either_key(header_key: str | None, bearer: HTTPAuthorizationCredentials | None) -> str | None:
    return header_key or (bearer.credentials if bearer else None)


async def _take(runtime: Runtime, key_hash: str) -> RateDecision:
    decision = await runtime.rate_limiter.take(key_hash)
    if decision is not None:
        return decision
    # Not checked lately: ask MySQL (which raises for an unknown or revoked key), note the use,
    # then let Redis vouch for the key for a while. last_used_at is thus written about once a
    # minute per key in use, whatever the traffic.
    await runtime.api_keys.check(key_hash, record_use=True)
    await runtime.rate_limiter.mark_checked(key_hash)
    decision = await runtime.rate_limiter.take(key_hash)
    if decision is None:  # revoked in the meantime
        raise invalid_key()
    return decision
