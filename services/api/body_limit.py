"""Refuses request bodies over API_MAX_BODY_BYTES with a 413 in the envelope."""

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.responses import error_response


class BodyLimitMiddleware:
    """Checks the declared Content-Length up front and counts the bytes of chunked bodies."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large_message(self) -> str:
        return f"The request body is larger than {self.max_bytes} bytes; send a smaller one."

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            response = error_response(413, "payload_too_large", self._too_large_message())
            await response(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # An HTTPException (not an AppError): FastAPI turns any other exception
                    # raised while reading the body into a generic 400.
                    raise HTTPException(413, detail=self._too_large_message())
            return message

        await self.app(scope, receive_within_limit, send)
