"""The envelope on the wire: success and error bodies, and how OpenAPI describes the errors."""

from collections.abc import Mapping
from typing import Any, TypeVar

from starlette.responses import Response

from services.api import examples
from shared.schemas import Envelope, ErrorBody, ErrorEnvelope

PayloadT = TypeVar("PayloadT")

JSON = "application/json"

ERROR_DESCRIPTIONS = {
    400: "The body is not valid JSON",
    401: "No valid API key was sent",
    403: "A request signed in by the dashboard's cookie came without the dashboard's header",
    404: "No such task (or a task of the other kind)",
    405: "The path does not accept this method",
    409: "The target is already monitored, or the task is stopped",
    413: "The body is larger than the limit (or, for an import, holds too many points)",
    415: "The body's Content-Type is not one the route reads",
    422: "A field, path or query parameter is invalid; the message says which and why",
    408: "The body did not arrive in time",
    429: (
        "The API key is over its rate limit, or this address sent unknown keys too often; "
        "retry after the time in Retry-After"
    ),
    500: "An unexpected failure on the server; it is logged with the request id",
    503: "MySQL or Redis is not answering; retry shortly",
}
# Every task and history route reads MySQL or Redis, and any route can fail unexpectedly.
SERVER_ERROR_STATUSES = (500, 503)


def ok(data: PayloadT, status_code: int = 200) -> Envelope[PayloadT]:
    """A success envelope whose `status_code` is the response's status."""
    return Envelope(status_code=status_code, data=data)


def envelope_json(status_code: int, code: str, message: str, details: Any = None) -> bytes:
    """An error envelope as JSON bytes."""
    body = ErrorEnvelope(
        status_code=status_code, error=ErrorBody(code=code, message=message, details=details)
    )
    return body.model_dump_json().encode()


def error_response(
    status_code: int,
    code: str,
    message: str,
    *,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """An error envelope response."""
    return Response(
        envelope_json(status_code, code, message, details),
        status_code=status_code,
        headers=headers,
        media_type=JSON,
    )


def error_docs(
    *statuses: int,
    codes: Mapping[int, Mapping[str, Any]] = examples.ROUTE_ERRORS,
    descriptions: Mapping[int, str] = ERROR_DESCRIPTIONS,
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer with, an example of each code."""
    return {
        status: {
            "model": ErrorEnvelope,
            "description": descriptions.get(status, ERROR_DESCRIPTIONS[status]),
            "content": {
                JSON: {
                    "examples": {
                        code: {"summary": code, "value": example}
                        for code, example in codes[status].items()
                    }
                }
            },
        }
        for status in statuses
    }


def documented(
    example: Any,
    *error_statuses: int,
    status_code: int = 200,
    links: dict[str, Any] | None = None,
    codes: Mapping[int, Mapping[str, Any]] = examples.ROUTE_ERRORS,
    descriptions: Mapping[int, str] = ERROR_DESCRIPTIONS,
) -> dict[int | str, Any]:
    """OpenAPI responses of a route: an example of its success envelope, and its errors (the
    task routes' unless `codes` and `descriptions` say otherwise)."""
    success: dict[str, Any] = {
        "content": {
            JSON: {"example": {"status_code": status_code, "success": True, "data": example}}
        }
    }
    if links:
        success["links"] = links
    errors = error_docs(
        *error_statuses, *SERVER_ERROR_STATUSES, codes=codes, descriptions=descriptions
    )
    return {status_code: success, **errors}
