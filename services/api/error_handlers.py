"""Turns every failure into the error envelope, so FastAPI's default shapes never reach a client."""

from collections.abc import Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from redis.exceptions import RedisError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import compile_path

from services.api.errors import AppError
from services.api.responses import error_response
from shared.instagram import too_long

log = structlog.get_logger()

# Where FastAPI puts a parameter; the client knows the field by its name alone.
LOCATIONS = frozenset({"body", "query", "path", "header"})
MAX_LISTED_PROBLEMS = 3

# What a lost or exhausted database connection raises.
DATABASE_ERRORS = (OperationalError, InterfaceError, PoolTimeoutError)
HTTP_ERROR_CODES = {
    404: "route_not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
}


def install_error_handlers(app: FastAPI) -> None:
    """Register the envelope renderers on the app."""
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    for error in (AppError, *DATABASE_ERRORS, RedisError):
        app.add_exception_handler(error, _rendered)


def render_error(error: Exception) -> Response | None:
    """The envelope answering an error of ours or an outage; None for anything else."""
    if isinstance(error, AppError):
        return error_response(
            error.status_code,
            error.code,
            error.message,
            details=error.details,
            headers=error.headers,
        )
    if isinstance(error, DATABASE_ERRORS):
        log.error("api.database_unavailable", error=repr(error))
        return error_response(
            503, "database_unavailable", "The database is not answering; retry shortly."
        )
    if isinstance(error, RedisError):
        log.error("api.redis_unavailable", error=repr(error))
        return error_response(503, "redis_unavailable", "Redis is not answering; retry shortly.")
    return None


async def _rendered(request: Request, error: Exception) -> Response:
    response = render_error(error)
    assert response is not None, "registered only for the errors render_error knows"
    return response


async def _validation_error(request: Request, error: RequestValidationError) -> Response:
    problems = [_problem(raw) for raw in error.errors()]
    unparsable = [problem for problem in problems if problem["type"] == "json_invalid"]
    if unparsable:
        return _invalid_json(unparsable[0]["message"])
    if any(problem["field"] == "" for problem in problems) and not _sent_json(request):
        return error_response(
            422,
            "validation_error",
            "The body must be a JSON object sent with Content-Type: application/json.",
            details=problems,
        )
    listed = "; ".join(
        f"{problem['field']}: {problem['message']}" if problem["field"] else problem["message"]
        for problem in problems[:MAX_LISTED_PROBLEMS]
    )
    more = len(problems) - MAX_LISTED_PROBLEMS
    if more > 0:
        listed += f" (and {more} more, listed in details)"
    return error_response(422, "validation_error", f"Invalid request: {listed}.", details=problems)


def _sent_json(request: Request) -> bool:
    return "json" in request.headers.get("content-type", "").lower()


def _problem(raw: dict[str, Any]) -> dict[str, Any]:
    location: Sequence[Any] = raw.get("loc", ())
    if location and location[0] in LOCATIONS:
        location = location[1:]
    field = ".".join(str(part) for part in location)
    message = raw.get("msg", "invalid value")
    context = raw.get("ctx") or {}
    if raw.get("type") == "value_error" and "error" in context:
        # The sentence our own validators wrote, without pydantic's "Value error, " in front.
        message = str(context["error"])
    elif raw.get("type") == "json_invalid" and "error" in context:
        message = str(context["error"])
    elif raw.get("type") == "string_too_long" and "max_length" in context:
        message = too_long(context["max_length"], len(str(raw.get("input", ""))))
    elif raw.get("type") == "too_long" and "actual_length" in context:
        message = too_long(context["max_length"], context["actual_length"], "items")
    elif raw.get("type") == "missing" and field == "":
        message = "the request body is missing; send a JSON object"
    return {"field": field, "message": message, "type": raw.get("type", "value_error")}


def _invalid_json(reason: str) -> Response:
    return error_response(
        400,
        "invalid_json",
        f"The request body is not valid JSON ({reason}); "
        "send a JSON object with Content-Type: application/json.",
    )


def _unparsable_reason(cause: BaseException | None) -> str:
    if isinstance(cause, UnicodeDecodeError):
        return "it is not UTF-8"
    if isinstance(cause, RecursionError):
        return "it is nested too deeply"
    if isinstance(cause, ValueError):
        # Python refuses to convert integers of more than 4,300 digits.
        return "a number in it has too many digits"
    return "it cannot be parsed"


async def _http_error(request: Request, error: HTTPException) -> Response:
    if error.status_code == 400:
        # FastAPI's answer when decoding the body fails in a way that is not a JSON syntax
        # error; nothing else in the API raises a bare 400.
        return _invalid_json(_unparsable_reason(error.__cause__))
    code = HTTP_ERROR_CODES.get(error.status_code, "http_error")
    message = str(error.detail)
    headers = error.headers
    if error.status_code == 404:
        message = f"There is no route {request.url.path}; see /docs for the API's paths."
    elif error.status_code == 405:
        allowed = _allowed_methods(request)
        headers = {**(headers or {}), "Allow": allowed}
        message = f"{request.method} is not allowed on {request.url.path}; use {allowed}."
    return error_response(error.status_code, code, message, headers=headers)


def _allowed_methods(request: Request) -> str:
    """Every method the path takes, from the OpenAPI document. Starlette's Allow names only
    the methods of the first route whose path matched, and a path such as /api/v1/webhooks
    has one route per method."""
    methods: set[str] = set()
    for template, operations in request.app.openapi()["paths"].items():
        pattern, _, _ = compile_path(template)
        if pattern.match(request.url.path):
            methods |= {method.upper() for method in operations}
    return ", ".join(sorted(methods))
