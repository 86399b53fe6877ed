"""The protected routes' dependency: an API key is required, and its rate limit applies."""

from typing import Annotated

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from services.api.dependencies import RuntimeDep
from services.api.errors import RateLimited, Unauthorized
from services.api.request_context import add_response_headers

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


async def authenticate(
    request: Request,
    runtime: RuntimeDep,
    header_key: Annotated[str | None, Security(API_KEY_HEADER)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
) -> None:
    """Let the request through with an active key that is within its rate limit."""
    key = header_key or (bearer.credentials if bearer else None)
    if not key:
        raise Unauthorized(
            "Send an API key in the X-API-Key header or as Authorization: Bearer <key>.",
            code="missing_api_key",
        )
    key_id = await runtime.api_keys.check(key)
    decision = await runtime.rate_limiter.take(key_id)
    if decision is None:  # Redis is down: better served unlimited than not at all
        return
    add_response_headers(request, decision.headers())
    if not decision.allowed:
        settings = runtime.settings
        raise RateLimited(
            f"This API key is over its limit of {settings.api_rate_limit_per_second:g} requests "
            f"per second (bursts of {settings.api_rate_limit_burst}); retry in "
            f"{decision.retry_after_seconds} s.",
            headers={"Retry-After": str(decision.retry_after_seconds)},
        )
