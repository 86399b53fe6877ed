"""Per-request context: a request id in every log line and header, an access log, metrics,
and the response headers that dependencies ask for.

A pure ASGI middleware (not BaseHTTPMiddleware), so it costs microseconds on the hot read path.
It is also the last resort for an unexpected exception: the client gets a 500 in the envelope,
the log gets the traceback.
"""

import re
import secrets
import time
from collections.abc import Mapping

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.metrics import ApiMetrics
from services.api.responses import error_response

log = structlog.get_logger()

REQUEST_ID_HEADER = "X-Request-ID"
# Where a dependency leaves headers for the response (request.state), since a route that returns
# its own Response, or an error handler, would not carry headers set on FastAPI's Response.
RESPONSE_HEADERS = "response_headers"
# A caller's id is reused (so one id follows a request across services) only when it is short
# and plain: anything else could forge log lines.
ACCEPTED_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Probes and scrapes every few seconds would drown the access log; they are logged at debug.
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
# Requests outside the API's routes (docs, unknown paths, bodies refused before routing) share
# one label, so a scan of random paths cannot blow up the metrics' cardinality.
OTHER_ROUTE = "other"


class RequestContextMiddleware:
    """Adds X-Request-ID, logs `api.request`, counts and times requests by route template."""

    def __init__(self, app: ASGIApp, *, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = MutableHeaders(scope=message)
                headers.append(REQUEST_ID_HEADER, request_id)
                for name, value in scope.get("state", {}).get(RESPONSE_HEADERS, {}).items():
                    headers.append(name, value)
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_request_id)
            except Exception:
                log.exception("api.unhandled_error", method=scope["method"], path=scope["path"])
                if not response_started:
                    response = error_response(
                        500, "internal_error", "Something went wrong on our side; it is logged."
                    )
                    await response(scope, receive, send_with_request_id)
            finally:
                self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, elapsed: float) -> None:
        route = getattr(scope.get("route"), "path", OTHER_ROUTE)
        method = scope["method"]
        self.metrics.requests.labels(route, method, str(status)).inc()
        self.metrics.latency.labels(route, method).observe(elapsed)
        emit = log.debug if route in QUIET_ROUTES else log.info
        emit(
            "api.request",
            method=method,
            path=scope["path"],
            route=route,
            status=status,
            duration_ms=round(elapsed * 1000, 2),
        )


def add_response_headers(scope: Scope, headers: Mapping[str, str]) -> None:
    """Put these headers on the response to the request of `scope`, whatever answers it."""
    state = scope.setdefault("state", {})
    state.setdefault(RESPONSE_HEADERS, {}).update(headers)


def _request_id(scope: Scope) -> str:
    offered = Headers(scope=scope).get(REQUEST_ID_HEADER)
    if offered and ACCEPTED_REQUEST_ID.fullmatch(offered):
        return offered
    return secrets.token_hex(16)
