"""API benchmark: history reads of the real `python -m services.api` against a bare FastAPI route.

A profile with 1,000 points of history is seeded in a database and Redis prefix of this run's
own (removed at the end). Each scenario runs wrk with 64 connections against one uvicorn worker
(uvloop, httptools), one run at a time:

- cached:     the default view (newest 100 points), answered from Redis; also with an API key
              (a second API process with API_AUTH=required), and with the cache bypassed
              (what a cache miss of the default view costs);
- uncached:   `?limit=1000`, every point, read from MySQL's history rows on each request;
- bare:       a FastAPI app with one route returning the cached view's bytes;
- ceiling:    a bare ASGI route (no framework) that runs the API's rows query on the same
              driver and renders the same JSON with orjson: the most any read that queries
              MySQL can reach.

The scenarios take turns for a few rounds; each keeps its median. Requests/s and p50/p99
latency go to bench/RESULTS.md (section "API"), with ratios to the bare route. `make bench-api`;
`--duration` (seconds per run) and `--rounds` shorten or lengthen it. Needs wrk (installed with
apt-get when missing and run as root) and the servers of DATABASE_URL / REDIS_URL.
"""

import argparse
import asyncio
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url

from shared import migrate
from shared.db import create_engine, create_session_factory
from shared.models import Source, TaskType
from shared.repositories.history import (
    INFLUENCER_HISTORY,
    POINT_JSON_OPTIONS,
    HistoryRepository,
    newest_points_query,
)
from shared.repositories.tasks import TaskRepository
from shared.settings import Settings

RESULTS = Path(__file__).with_name("RESULTS.md")
SECTION = "## API"
POINTS = 1000
USER_ID = 25025320
BIO = "Experience the world through the eyes of National Geographic photographers."
CONNECTIONS = 64
WARM_UP_SECONDS = 2
HISTORY = "/api/v1/instagram/influencer_monitor/user_history"


@dataclass(frozen=True)
class Result:
    """One wrk run."""

    name: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    body_bytes: int
    server_cpu_ms: float
    database_cpu_ms: float | None


@dataclass(frozen=True)
class Scenario:
    """One URL to measure, the process serving it, and the bare route it is compared with."""

    name: str
    url: str
    server_pid: int
    headers: tuple[str, ...] = ()
    baseline: str | None = None
    goal: float | None = None
    connections: int = CONNECTIONS


def ensure_wrk() -> str:
    """The wrk binary, installed from Debian when missing (as root)."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("wrk is missing: install it with `sudo apt-get install -y wrk`")
    print("installing wrk", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "wrk"],
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    return shutil.which("wrk") or sys.exit("wrk did not install")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def bench_settings() -> AsyncIterator[Settings]:
    """Settings naming a migrated database and a Redis prefix of this run's own."""
    base = Settings()
    run_id = uuid.uuid4().hex[:8]
    database_url = (
        make_url(base.database_url)
        .set(database=f"im_bench_api_{run_id}")
        .render_as_string(hide_password=False)
    )
    settings = base.model_copy(
        update={"database_url": database_url, "redis_prefix": f"imbench.{run_id}"}
    )
    await asyncio.to_thread(migrate.upgrade, database_url)
    try:
        yield settings
    finally:
        engine = create_engine(settings, pool_size=1)
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP DATABASE `{make_url(database_url).database}`"))
        await engine.dispose()
        redis = Redis.from_url(settings.redis_url)
        keys = [key async for key in redis.scan_iter(match=f"{settings.redis_prefix}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def seed_profile(settings: Settings) -> str:
    """One influencer task (interval 1 day, so the cache outlives the run) with its history;
    its id."""
    engine = create_engine(settings)
    start = datetime.now(UTC) - timedelta(hours=POINTS)
    try:
        async with create_session_factory(engine).begin() as session:
            tasks = TaskRepository(session)
            task = await tasks.create(
                TaskType.INFLUENCER, "natgeo", interval_seconds=86400, now=start
            )
            await tasks.record_success(task.id, now=start, user_id=USER_ID)
            history = HistoryRepository(session)
            for n in range(POINTS):
                moment = start + timedelta(hours=n)
                await history.add_influencer_point(
                    user_id=USER_ID,
                    username="natgeo",
                    bio=BIO,
                    follower_count=280_000_000 + n * 37,
                    following_count=150,
                    post_count=29_000 + n // 24,
                    recorded_at=moment,
                    task_id=task.id,
                    scheduled_for=moment,
                    source=Source.LIVE if n % 10 else Source.FALLBACK,
                )
            return task.id
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class Served:
    """A running server process."""

    url: str
    pid: int


@contextmanager
def server(command: list[str], port: int, environment: dict[str, str]) -> Iterator[Served]:
    """Run one server process until the block ends; yield it once it answers."""
    process = subprocess.Popen(
        command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            if process.poll() is not None:
                assert process.stderr is not None
                sys.exit(f"{command} exited: {process.stderr.read().decode()}")
            try:
                httpx.get(f"{url}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            sys.exit(f"{command} did not answer within 10 s")
        yield Served(url, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)


def run_wrk(wrk: str, scenario: Scenario, duration: int, *, warm_up: bool) -> Result:
    """Measure one scenario with wrk (after a warm-up run); parse requests/s and p50/p99."""
    headers = dict(header.split(": ", 1) for header in scenario.headers)
    body_bytes = len(httpx.get(scenario.url, headers=headers, timeout=30).content)
    base = [wrk, "--threads", "2", "--connections", str(scenario.connections), "--latency"]
    # The uncached run's slowest answers take over a second: wrk's default 2 s timeout would
    # count some of them as errors.
    base += ["--timeout", "30s"]
    for header in scenario.headers:
        base += ["--header", header]
    if warm_up:
        subprocess.run(
            [*base, "--duration", f"{WARM_UP_SECONDS}s", scenario.url],
            check=True,
            capture_output=True,
        )
    database = database_pid()
    server_before = cpu_seconds(scenario.server_pid)
    database_before = cpu_seconds(database) if database else 0.0
    output = subprocess.run(
        [*base, "--duration", f"{duration}s", scenario.url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    server_cpu = cpu_seconds(scenario.server_pid) - server_before
    database_cpu = cpu_seconds(database) - database_before if database else None
    if "Non-2xx" in output or "Socket errors" in output:
        sys.exit(f"{scenario.name}: wrk saw errors:\n{output}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    assert rate is not None, output
    assert total is not None, output
    requests = int(total.group(1))
    return Result(
        name=scenario.name,
        requests_per_second=float(rate.group(1)),
        p50_ms=latency_ms(output, "50%"),
        p99_ms=latency_ms(output, "99%"),
        body_bytes=body_bytes,
        server_cpu_ms=server_cpu * 1000 / requests,
        database_cpu_ms=database_cpu * 1000 / requests if database_cpu is not None else None,
    )


def cpu_seconds(pid: int) -> float:
    """The user and system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def database_pid() -> int | None:
    """The local MariaDB (or MySQL) server's process, if it runs on this machine."""
    for name in ("mariadbd", "mysqld"):
        found = subprocess.run(["pidof", "-s", name], capture_output=True, text=True).stdout
        if found.strip():
            return int(found)
    return None


def latency_ms(output: str, percentile: str) -> float:
    """A percentile of wrk's latency distribution, in milliseconds."""
    found = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)\b", output)
    assert found is not None, output
    value, unit = found.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def serve_bare(port: int, bodies: Path, task_id: str) -> None:
    """The baselines, on the same server stack: a FastAPI app whose route returns the cached
    view's bytes, and in front of it a bare ASGI route that runs the API's rows query on the
    bare driver and renders the same body with orjson (the ceiling of an uncached read)."""
    from typing import Any
    from urllib.parse import parse_qs

    import asyncmy
    import uvicorn
    from fastapi import FastAPI
    from sqlalchemy.dialects import mysql
    from starlette.responses import Response

    cached = (bodies / "cached.json").read_bytes()
    settings = Settings()
    url = make_url(settings.database_url)
    # The very statement the API runs, compiled for MySQL (positional parameters).
    query = newest_points_query(INFLUENCER_HISTORY, since=False, until=False).compile(
        dialect=mysql.dialect()
    )
    parameter_names = query.positiontup
    assert parameter_names is not None, "MySQL's parameters are positional"
    fields = INFLUENCER_HISTORY.fields

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # As many connections as the API's pool holds, in autocommit: nothing to roll back.
        app.state.pool = await asyncmy.create_pool(
            maxsize=settings.database_pool_size * 2,
            host=url.host,
            port=url.port or 3306,
            user=url.username,
            password=url.password or "",
            db=url.database,
            autocommit=True,
        )
        yield
        app.state.pool.close()
        await app.state.pool.wait_closed()

    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b"{}", media_type="application/json")

    @app.get("/bare")
    async def bare() -> Response:
        return Response(cached, media_type="application/json")

    async def ceiling(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/ceiling":
            await app(scope, receive, send)
            return
        limit = int(parse_qs(scope["query_string"].decode())["limit"][0])
        values = query.construct_params({"task_id": task_id, "limit": limit})
        async with app.state.pool.acquire() as connection, connection.cursor() as cursor:
            await cursor.execute(query.string, [values[name] for name in parameter_names])
            rows = await cursor.fetchall()
        points = [dict(zip(fields, row)) for row in rows]  # noqa: B905 (as the API builds them)
        data = {"username": "natgeo", "history": points}
        body = orjson.dumps(
            {"status_code": 200, "success": True, "data": data}, option=POINT_JSON_OPTIONS
        )
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    uvicorn.run(
        ceiling, host="127.0.0.1", port=port, loop="uvloop", http="httptools", log_level="warning"
    )


def machine() -> str:
    """The CPU, core count, Python version and load: what the numbers depend on."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average before the run {load}"
    )


def report(
    scenarios: dict[str, Scenario],
    results: dict[str, Result],
    duration: int,
    rounds: int,
    machine_line: str,
) -> str:
    """The RESULTS.md section of this run."""
    rows = [
        "| scenario | body | requests/s | p50 | p99 | ratio to its baseline (req/s) | goal "
        "| server CPU per request | MariaDB CPU per request |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, scenario in scenarios.items():
        result = results[key]
        ratio = "1 (baseline)"
        if scenario.baseline:
            ratio = f"{ratio_to(results, key, scenario.baseline):.2f} of {scenario.baseline}"
        goal = f"≥ {scenario.goal}" if scenario.goal else ""
        database = "n/a" if result.database_cpu_ms is None else f"{result.database_cpu_ms:.3f} ms"
        rows.append(
            f"| {result.name} | {result.body_bytes:,} B | {result.requests_per_second:,.0f} | "
            f"{result.p50_ms:.2f} ms | {result.p99_ms:.2f} ms | {ratio} | {goal} "
            f"| {result.server_cpu_ms:.3f} ms | {database} |"
        )
    return "\n".join(
        [
            SECTION,
            "",
            f"`make bench-api` (`python bench/api.py --duration {duration} --rounds {rounds}`), "
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC. {machine_line}.",
            f"wrk (2 threads, {CONNECTIONS} connections) on the same machine as the server; "
            f"{rounds} rounds of {duration} s runs taking the scenarios in turn, each scenario's "
            "median round shown. One uvicorn worker (uvloop, httptools), INFO logs (one line "
            "per request) to /dev/null, MariaDB and Redis local. History: one profile with "
            "1,000 points. `API_AUTH=disabled` except where a key is sent. CPU per request: "
            "the CPU time the serving process (and the local MariaDB server) used during the "
            "run, divided by the requests answered.",
            "",
            *rows,
            "",
            "- cached: `GET …/user_history/{user_id}`, the default view (newest 100 points), "
            "from Redis, answered after the authentication step and before FastAPI's routing "
            "by the history routes' own matcher and history service "
            "(`services/api/cached_reads.py`); a miss goes on to the route. The Redis reads "
            "of concurrent requests share one pipeline per turn of "
            "the event loop (`services/api/redis_batch.py`).",
            "- with an API key: the same, with `API_AUTH=required`: the authentication "
            "middleware's Redis script checks the key's mark and takes its rate limit (MySQL is "
            "asked once a minute; the limit is set out of reach).",
            "- cache bypassed: the same 100 points, but `since=2000-01-01T00:00:00Z` makes it a "
            "view that is never cached: what a cache miss of the default view costs.",
            "- uncached: `?limit=1000`, all 1,000 points read from MySQL's rows on every "
            "request (one range of the primary key, task_id then recorded_at).",
            "- bare: a FastAPI app whose one route returns the cached view's bytes, on the same "
            "server stack.",
            "- ceiling: a bare ASGI route (no framework) in the same process that runs the "
            "API's rows query (`newest_points_query`) on bare asyncmy connections in "
            "autocommit and renders the same 1,000-point body with orjson.",
            "",
            *read_costs(results),
        ]
    )


def ratio_to(results: dict[str, Result], name: str, baseline: str) -> float:
    """A scenario's requests/s as a ratio to its baseline's."""
    return results[name].requests_per_second / results[baseline].requests_per_second


def read_costs(results: dict[str, Result]) -> list[str]:
    """What a read that goes to MySQL costs, against the ceiling and the cache miss goal."""
    uncached, ceiling, bypassed = results["uncached"], results["ceiling"], results["bypassed"]
    return [
        f"Uncached 1,000-point reads: {ratio_to(results, 'uncached', 'ceiling'):.2f} of the "
        f"bare-driver ceiling ({uncached.requests_per_second:,.0f} against "
        f"{ceiling.requests_per_second:,.0f} requests/s); the API's process spent "
        f"{uncached.server_cpu_ms:.2f} ms of CPU per read against the ceiling's "
        f"{ceiling.server_cpu_ms:.2f} ms. A cache miss of the default view answered "
        f"{bypassed.requests_per_second:,.0f} requests/s "
        f"({ratio_to(results, 'bypassed', 'uncached'):.2f} of the uncached 1,000-point read).",
        "",
    ]


def write_section(section: str, heading: str = SECTION) -> None:
    """Replace a benchmark's section (under `heading`) of RESULTS.md; the others stay."""
    text_ = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text_):
        # A blank line before the next section's heading.
        text_ = pattern.sub(lambda _: section.rstrip("\n") + "\n\n", text_)
    else:
        text_ = text_.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text_.rstrip("\n") + "\n")


async def benchmark(duration: int, rounds: int) -> None:
    """Seed, measure every scenario, write the results."""
    wrk = ensure_wrk()
    machine_line = machine()
    async with bench_settings() as settings:
        task_id = await seed_profile(settings)
        scenarios, runs = await asyncio.to_thread(measure, wrk, settings, task_id, duration, rounds)
    results = {key: median_run(found) for key, found in runs.items()}
    section = report(scenarios, results, duration, rounds, machine_line)
    write_section(section)
    print(section)


def measure(
    wrk: str, settings: Settings, task_id: str, duration: int, rounds: int
) -> tuple[dict[str, Scenario], dict[str, list[Result]]]:
    """Every scenario's wrk runs; the two API processes and the bare app stay up throughout."""
    environment = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "REDIS_PREFIX": settings.redis_prefix,
        "API_HOST": "127.0.0.1",
        "LOG_LEVEL": "INFO",
    }
    keyed = {
        **environment,
        "API_AUTH": "required",
        "API_RATE_LIMIT_PER_SECOND": "1000000",
        "API_RATE_LIMIT_BURST": "1000000",
    }
    api = [sys.executable, "-m", "services.api"]
    key = subprocess.run(
        [*api, "keys", "create", "bench"], env=keyed, check=True, capture_output=True, text=True
    ).stdout.strip()
    open_port, keyed_port, bare_port = free_port(), free_port(), free_port()
    with (
        tempfile.TemporaryDirectory(prefix="bench-api-") as work,
        server(
            api, open_port, {**environment, "API_AUTH": "disabled", "API_PORT": str(open_port)}
        ) as open_api,
        server(api, keyed_port, {**keyed, "API_PORT": str(keyed_port)}) as keyed_api,
    ):
        bodies = Path(work)
        history = f"{HISTORY}/{USER_ID}"
        body = httpx.get(f"{open_api.url}{history}", timeout=30).content
        (bodies / "cached.json").write_bytes(body)
        bare = [sys.executable, __file__, "serve-bare", str(bare_port), str(bodies), task_id]
        with server(bare, bare_port, environment) as bare_app:
            scenarios = {
                "bare": Scenario(
                    "bare route, 100-point body", f"{bare_app.url}/bare", bare_app.pid
                ),
                "cached": Scenario(
                    "cached read (100 points)",
                    f"{open_api.url}{history}",
                    open_api.pid,
                    baseline="bare",
                    goal=0.6,
                ),
                "cached-key": Scenario(
                    "cached read with an API key",
                    f"{keyed_api.url}{history}",
                    keyed_api.pid,
                    headers=(f"X-API-Key: {key}",),
                    baseline="bare",
                    goal=0.5,
                ),
                "bypassed": Scenario(
                    "cache bypassed (same 100 points)",
                    f"{open_api.url}{history}?since=2000-01-01T00:00:00Z",
                    open_api.pid,
                    baseline="uncached",
                    goal=1.0,
                ),
                "ceiling": Scenario(
                    "bare-driver ceiling (1,000 points)",
                    f"{bare_app.url}/ceiling?limit={POINTS}",
                    bare_app.pid,
                ),
                "uncached": Scenario(
                    "uncached read (1,000 points)",
                    f"{open_api.url}{history}?limit={POINTS}",
                    open_api.pid,
                    baseline="ceiling",
                    goal=0.7,
                ),
            }
            # Rounds interleave the scenarios, so a neighbour's burst of CPU use spreads over
            # all of them instead of sinking one; each scenario keeps its median round.
            runs: dict[str, list[Result]] = {name: [] for name in scenarios}
            for round_number in range(1, rounds + 1):
                for name, scenario in scenarios.items():
                    print(f"round {round_number}/{rounds}: {scenario.name}", flush=True)
                    runs[name].append(run_wrk(wrk, scenario, duration, warm_up=round_number == 1))
    return scenarios, runs


def median_run(runs: list[Result]) -> Result:
    """The run with the median requests/s (its latencies come with it)."""
    return sorted(runs, key=lambda run: run.requests_per_second)[len(runs) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of every scenario")
    sub = parser.add_subparsers(dest="command")
    bare = sub.add_parser("serve-bare", help=argparse.SUPPRESS)
    bare.add_argument("port", type=int)
    bare.add_argument("bodies", type=Path)
    bare.add_argument("task_id")
    args = parser.parse_args()
    if args.command == "serve-bare":
        serve_bare(args.port, args.bodies, args.task_id)
    else:
        asyncio.run(benchmark(args.duration, args.rounds))


if __name__ == "__main__":
    main()
