"""Schemathesis against the running API: no input gives a 5xx or breaks the API's own schema;
and the running API's connections outlast a client's keep-alive.

The API runs as it does in production (`python -m services.api`, uvicorn with uvloop and
httptools, API keys required) on the test database and Redis prefix, with a key made by
`python -m services.api keys create`; schemathesis's CLI drives it from /openapi.json,
following the schema's links (create a task, then pause, resume, stop it).
"""

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from shared.settings import Settings
from tests.api.support import Sessions

SCHEMATHESIS = Path(sys.executable).with_name("st")
ROOT = Path(__file__).resolve().parents[2]
# Serializers for the media types schemathesis does not know (the imports' NDJSON).
HOOKS = "tests.api.schemathesis_hooks"
EXAMPLES_PER_OPERATION = 40
# The run ends well within this; a hang must not stall the suite.
RUN_TIMEOUT_SECONDS = 240
# `positive_data_acceptance` expects every schema-valid input to be accepted. The schema
# publishes the username and post-code rules, but not what makes a URL an Instagram post:
# other URLs are schema-valid and rightly refused with 422.
EXCLUDED_CHECKS = "positive_data_acceptance"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class RunningApi:
    url: str
    key: str


@pytest.fixture
async def api(settings: Settings, sessions: Sessions, redis: Redis) -> AsyncIterator[RunningApi]:
    """A real API process on the test database, with a key made by `keys create`."""
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "REDIS_PREFIX": settings.redis_prefix,
        "API_AUTH": "required",
        # Thousands of requests in seconds: a real limit would answer most of them with 429.
        "API_RATE_LIMIT_PER_SECOND": "100000",
        "API_RATE_LIMIT_BURST": "100000",
        # Schemathesis also sends made-up keys on purpose, as often as it sends real ones.
        "API_AUTH_FAILURE_BURST": "100000",
        "API_HOST": "127.0.0.1",
        "API_PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }
    create_key = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.api",
        "keys",
        "create",
        "schemathesis",
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    key, problem = await create_key.communicate()
    assert create_key.returncode == 0, problem.decode()
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.api",
        env=environment,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_until_live(url, server)
        yield RunningApi(url, key.decode().strip())
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), timeout=10)


async def wait_until_live(url: str, server: asyncio.subprocess.Process) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(100):
            if server.returncode is not None:
                assert server.stderr is not None
                raise AssertionError(f"the API exited: {(await server.stderr.read()).decode()}")
            try:
                if (await client.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the API did not answer /healthz within 10 s")


async def test_schemathesis_finds_no_server_error_and_no_schema_break(
    api: RunningApi, tmp_path: Path
) -> None:
    run = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS),
        "run",
        f"{api.url}/openapi.json",
        # Every request carries the key; the `ignored_auth` check also sends some without it.
        "--header",
        f"X-API-Key: {api.key}",
        "--checks",
        "all",
        "--exclude-checks",
        EXCLUDED_CHECKS,
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--workers",
        "2",
        "--generation-database",
        "none",
        "--no-color",
        # Schemathesis keeps a cache in its working directory; the checkout stays clean.
        cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_HOOKS": HOOKS, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(run.communicate(), timeout=RUN_TIMEOUT_SECONDS)
    report = output.decode(errors="replace")
    assert run.returncode == 0, report[-20000:]
    assert "✅ Stateful" in report, report[-5000:]


async def test_an_idle_connection_stays_open_longer_than_a_client_keeps_it(
    api: RunningApi,
) -> None:
    host, port = api.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))

    async def health() -> bytes:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: api\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        return head.split(b"\r\n")[0]

    try:
        assert await health() == b"HTTP/1.1 200 OK"
        # Idle past the 5 s httpx keeps a connection for reuse: had the API closed it at the
        # same moment, a script's next request on it would fail with "server disconnected".
        await asyncio.sleep(6)
        assert await health() == b"HTTP/1.1 200 OK"
    finally:
        writer.close()
