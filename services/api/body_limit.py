"""Bounds request bodies: over API_MAX_BODY_BYTES a 413, not all there within
API_BODY_TIMEOUT_SECONDS a 408, both in the envelope. History imports, whose files are large,
have their own pair (API_MAX_IMPORT_BODY_BYTES, API_IMPORT_BODY_TIMEOUT_SECONDS)."""

import asyncio
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.responses import error_response

# The last segment of the import routes' paths (…/user_history/{user_id}/import).
IMPORT_PATH_SUFFIX = "/import"


@dataclass(frozen=True, slots=True)
class BodyLimit:
    """The largest body a route takes, and how long it may take to arrive."""

    max_bytes: int
    timeout_seconds: float

    def too_large_message(self) -> str:
        return f"The request body is larger than {self.max_bytes} bytes; send a smaller one."


class BodyLimitMiddleware:
    """Checks the declared Content-Length up front, counts the bytes of chunked bodies, and
    gives the whole body one deadline, so a client sending slowly cannot hold a request open."""

    def __init__(self, app: ASGIApp, *, default: BodyLimit, imports: BodyLimit) -> None:
        self.app = app
        self.default = default
        self.imports = imports

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.imports if scope["path"].endswith(IMPORT_PATH_SUFFIX) else self.default
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit.max_bytes:
            response = error_response(413, "payload_too_large", limit.too_large_message())
            await response(scope, receive, send)
            return
        received = 0
        complete = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit.timeout_seconds

        async def receive_within_limit() -> Message:
            nonlocal received, complete
            if complete:
                # Past the body, receive() waits for the client to disconnect, for as long as
                # the response takes.
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                # HTTPExceptions (not AppErrors): FastAPI turns any other exception raised
                # while reading the body into a generic 400.
                raise HTTPException(
                    408,
                    detail=f"The request body did not arrive within "
                    f"{limit.timeout_seconds:g} s; send it again.",
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.max_bytes:
                    raise HTTPException(413, detail=limit.too_large_message())
                complete = not message.get("more_body", False)
            return message

        await self.app(scope, receive_within_limit, send)
