"""The collector's HTTP connections to TikHub: a few small httpx clients, used in turn."""

import itertools
import math
from collections.abc import Awaitable, Callable

import httpx

# httpcore 1.0 (httpx's transport) walks its whole pool on every request and every release, with
# a quadratic step (encode/httpcore#1035). Measured here at 100 concurrent calls with 100 ms
# latency: one client of 100 connections spent 9 ms of CPU per request; ten clients of ten
# spent 0.7 ms. Small pools keep that walk short.
CONNECTIONS_PER_CLIENT = 10
CONNECT_TIMEOUT_SECONDS = 10.0
# httpcore's trace event (httpx's "trace" request extension) just before an HTTP/1.1 request's
# headers are written on a connection already open.
HEADERS_WRITE_STARTED = "http11.send_request_headers.started"


class TikHubConnections:
    """Bearer-authenticated HTTP clients for TikHub, with explicit timeouts, used round-robin."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_seconds: float,
        max_connections: int,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """`transport` replaces the network (tests answer from an in-process sandbox)."""
        clients = math.ceil(max_connections / CONNECTIONS_PER_CLIENT)
        per_client = math.ceil(max_connections / clients)
        # Loading the CA bundle takes ~20 ms; once is enough for every client.
        tls = httpx.create_ssl_context()
        self.clients = [
            httpx.AsyncClient(
                base_url=base_url,
                verify=tls,
                headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
                timeout=httpx.Timeout(
                    timeout_seconds, connect=min(timeout_seconds, CONNECT_TIMEOUT_SECONDS)
                ),
                limits=httpx.Limits(
                    max_connections=per_client, max_keepalive_connections=per_client
                ),
                transport=transport,
            )
            for _ in range(clients)
        ]
        self._turns = itertools.cycle(self.clients)

    async def get(
        self, path: str, params: dict[str, str], *, before_write: Callable[[], Awaitable[None]]
    ) -> httpx.Response:
        """GET `path` on the next client in turn. `before_write` is awaited once a connection is
        ready, as the last step before the request's bytes go out: httpcore writes them without
        awaiting anything else in between."""

        async def trace(event: str, info: dict[str, object]) -> None:
            if event == HEADERS_WRITE_STARTED:
                await before_write()

        return await next(self._turns).get(path, params=params, extensions={"trace": trace})

    async def aclose(self) -> None:
        """Close every client's connections."""
        for client in self.clients:
            await client.aclose()
