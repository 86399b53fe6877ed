"""Per-request plumbing: a request id on every response, and one debug log line."""

import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger(__name__)


class RequestContextMiddleware:
    """Gives every request an id (echoed in `x-request-id`) and logs it when answered.

    A plain ASGI middleware rather than BaseHTTPMiddleware: it runs on every call of a
    benchmark and must stay cheap. Headers are never logged; they carry the API key.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()

        async def send_with_request_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-request-id", request_id.encode()),
                ]
                log.debug(
                    "sandbox.request",
                    method=scope["method"],
                    path=scope["path"],
                    status=message["status"],
                    request_id=request_id,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                )
            await send(message)

        await self.app(scope, receive, send_with_request_id)
