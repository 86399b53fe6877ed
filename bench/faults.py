"""Fault run: the real product, each service its own process, on a MariaDB and a Redis of its own.

The sandbox (answering after 1.5 s, so collections are in flight at any moment), the API
(`API_AUTH=required`), the scheduler and two collectors run as `python -m services.…` processes,
started as `make run` and the end-to-end tests start them, against a `mariadbd` (its own
data directory under /tmp) and a `redis-server` without persistence that this script starts on
ports of its own (3407 and 6480 by default) and kills at will. Product defaults otherwise, at the
shortest interval (30 s). `make bench-faults` (about 7 minutes). The checks, in this order:

4. 1,000 requests with random bad keys: MariaDB's `Questions` and `Com_select` move by a handful,
   measured while the API is the only client, against an idle stretch as long as the flood.
1. Redis killed with SIGKILL and restarted empty while 100 tasks are mid-slot: each of the four
   slots from the crash on is stored exactly once for every task, and no process was restarted.
2. The scheduler killed with SIGKILL and started again 40 s later: every slot that fell due in
   the outage is caught up, with a live row.
3. A username the sandbox reports as missing: `task_status` turns `unavailable`, and the target
   costs at most 2 TikHub calls (counted by the sandbox) in the next 100 s.
5. Over the whole run, TikHub calls never exceed `TIKHUB_RATE_LIMIT_PER_SECOND` in any sliding
   second, by their arrival at the sandbox: the kernel's receive times from a packet capture of
   the loopback interface (needs root, else skipped), and the sandbox's request log (answer
   time minus duration).

Exit status 0 when every check passes.
"""

import argparse
import asyncio
import ctypes
import json
import math
import os
import platform
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_engine
from shared.models import InfluencerMetricsHistory, Source, utcnow
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
# Linux's packet socket constants (not in the socket module).
ETH_P_ALL, PACKET_OUTGOING, SO_ATTACH_FILTER, SO_TIMESTAMPNS = 0x0003, 4, 26, 35
INTERVAL = 30
TASKS = 100
INFLUENCER = "/api/v1/instagram/influencer_monitor"
# A name of the sandbox's "notfound…" family: TikHub's answers for a user that does not exist.
MISSING_USER = "notfound_fault_run"
BAD_KEY_REQUESTS = 1_000
BAD_KEY_CONCURRENCY = 20
SCHEDULER_OUTAGE_SECONDS = 40
MISSING_USER_WATCH_SECONDS = 100
MISSING_USER_MAX_CALLS = 2
# Every collection is in flight this long, so a crash always catches some mid-call.
SANDBOX_LATENCY_MS = 1500
# The slot whose burst Redis is killed in (seconds into it), and the slots checked from it on.
CRASH_SLOT, CRASH_INTO_SLOT, SLOTS_AFTER_CRASH = 2, 3.0, 4
# The scheduler is killed once this slot is dispatched (a bulk create spreads first runs over
# 5 s), so the next slot falls due while it is down.
OUTAGE_AFTER_SLOT, OUTAGE_INTO_SLOT = 6, 7.0


@dataclass
class Check:
    """One check's outcome: what was measured, and whether it met the guarantee."""

    name: str
    passed: bool
    numbers: dict[str, object] = field(default_factory=dict)

    def report(self) -> str:
        numbers = ", ".join(f"{key} {value}" for key, value in self.numbers.items())
        return f"{'PASS' if self.passed else 'FAIL'}  {self.name}: {numbers}"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class WireCapture:
    """When each TikHub call reached the sandbox's socket: the kernel's receive time of every
    packet to its port that starts a request (a tcpdump of the loopback interface, which needs
    CAP_NET_RAW), unaffected by how busy the sandbox's own event loop is."""

    def __init__(self, port: int) -> None:
        # Raises PermissionError without CAP_NET_RAW.
        self._socket = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        program = b"".join(struct.pack("HBBI", *step) for step in tcp_to_port_filter(port))
        self._program = ctypes.create_string_buffer(program)
        self._socket.setsockopt(
            socket.SOL_SOCKET,
            SO_ATTACH_FILTER,
            struct.pack("HL", len(program) // 8, ctypes.addressof(self._program)),
        )
        self._socket.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self._socket.bind(("lo", 0))
        self._socket.settimeout(0.2)
        self.arrivals: list[float] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._capture, daemon=True)
        self._thread.start()

    def _capture(self) -> None:
        while not self._stopping.is_set():
            try:
                packet, ancillary, _, address = self._socket.recvmsg(65535, 64)
            except TimeoutError:
                continue
            # Loopback shows each packet twice, leaving and arriving; keep the arrival.
            if address[2] == PACKET_OUTGOING:
                continue
            tcp = 14 + (packet[14] & 0x0F) * 4
            payload = packet[tcp + (packet[tcp + 12] >> 4) * 4 :]
            if not payload.startswith(b"GET /api/"):
                continue
            for level, kind, data in ancillary:
                if (level, kind) == (socket.SOL_SOCKET, SO_TIMESTAMPNS):
                    seconds, nanoseconds = struct.unpack("qq", data[:16])
                    self.arrivals.append(seconds + nanoseconds / 1e9)

    def stop(self) -> list[float]:
        """Stop capturing; the arrivals so far, oldest first."""
        self._stopping.set()
        self._thread.join()
        self._socket.close()
        return sorted(self.arrivals)


def tcp_to_port_filter(port: int) -> list[tuple[int, int, int, int]]:
    """A classic BPF program (tcpdump -dd 'ip and tcp dst port PORT'): only those packets reach
    the capture, so the other services' traffic costs it nothing."""
    return [
        (0x28, 0, 0, 12),  # ldh [12]: the EtherType
        (0x15, 0, 8, 0x0800),  # IPv4, else drop
        (0x30, 0, 0, 23),  # ldb [23]: the IP protocol
        (0x15, 0, 6, 6),  # TCP, else drop
        (0x28, 0, 0, 20),  # ldh [20]: flags and fragment offset
        (0x45, 4, 0, 0x1FFF),  # a later fragment: drop
        (0xB1, 0, 0, 14),  # x = the IP header's length
        (0x48, 0, 0, 16),  # ldh [x + 16]: the TCP destination port
        (0x15, 0, 1, port),
        (0x06, 0, 0, 0xFFFF),  # keep
        (0x06, 0, 0, 0),  # drop
    ]


@dataclass
class Processes:
    """Child processes by label, each appending its output to `<label>.log` in `logs`."""

    logs: Path
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, label: str, args: list[str], env: dict[str, str] | None = None) -> None:
        with (self.logs / f"{label}.log").open("ab") as log:
            self.running[label] = subprocess.Popen(
                args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def kill(self, label: str) -> None:
        """kill -9: whatever the process held in memory is gone."""
        process = self.running.pop(label)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop(self, labels: Iterable[str]) -> dict[str, int]:
        """SIGTERM each process, in this order, and wait for it (kill -9 after a minute)."""
        codes = {}
        for label in labels:
            process = self.running.pop(label)
            process.send_signal(signal.SIGTERM)
            try:
                codes[label] = process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[label] = process.wait()
        return codes

    def log(self, label: str) -> str:
        return (self.logs / f"{label}.log").read_text(errors="replace")


@dataclass
class Run:
    """The servers, processes and clients of one fault run."""

    processes: Processes
    mariadb_port: int
    redis_port: int
    env: dict[str, str]
    engine: AsyncEngine
    api: httpx.AsyncClient
    sandbox: httpx.AsyncClient
    capture: WireCapture | None
    # A task's first slot; its slots follow every INTERVAL from it.
    first_slots: dict[str, datetime] = field(default_factory=dict)
    # When Redis was killed (unix time): the limiter's bookings were lost with it.
    redis_killed_at: float = 0.0

    @property
    def base(self) -> datetime:
        """The earliest first slot: slot n of the run falls due from base + n intervals."""
        return min(self.first_slots.values())

    def slot_start(self, slot: int) -> datetime:
        return self.base + timedelta(seconds=slot * INTERVAL)

    def slot_of(self, task_id: str, slot: int) -> datetime:
        return self.first_slots[task_id] + timedelta(seconds=slot * INTERVAL)

    def start_service(self, label: str) -> None:
        """`python -m services.<name>`, the name being the label up to any `-`."""
        service = label.split("-")[0]
        self.processes.start(label, [sys.executable, "-m", f"services.{service}"], self.env)

    def start_redis(self) -> None:
        # No persistence: a restart is a Redis that lost everything.
        self.processes.start(
            "redis",
            ["redis-server", "--port", str(self.redis_port), "--save", "", "--appendonly", "no"],
        )

    def collector_logs(self) -> str:
        return self.processes.log("collector") + self.processes.log("collector-2")


def note(message: str) -> None:
    print(f"{datetime.now(UTC):%H:%M:%S} {message}", flush=True)


async def until(condition: Callable[[], Awaitable[bool]], what: str, seconds: float) -> bool:
    """Poll `condition` for up to `seconds`; False (and a note) if it never held."""
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            note(f"gave up waiting for {what}")
            return False
        await asyncio.sleep(0.5)
    return True


async def sleep_until(moment: datetime) -> None:
    await asyncio.sleep(max(0.0, (moment - utcnow()).total_seconds()))


async def answering(url: str, what: str) -> None:
    """Wait up to 60 s for `url` to answer 200 (or, for redis://, PING)."""

    async def up() -> bool:
        try:
            if url.startswith("redis://"):
                async with Redis.from_url(url) as client:
                    return bool(await client.ping())
            async with httpx.AsyncClient() as client:
                return (await client.get(url)).status_code == 200
        except (RedisError, httpx.TransportError):
            return False

    if not await until(up, what, 60):
        raise RuntimeError(f"{what} did not start")


async def accepting(port: int, what: str) -> None:
    """Wait up to 60 s for a server to accept connections on `port`."""

    async def up() -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        return True

    if not await until(up, what, 60):
        raise RuntimeError(f"{what} did not start")


def command(args: list[str], env: dict[str, str]) -> str:
    """Run one of the product's commands to completion; its stdout."""
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


async def history(run: Run, task_ids: Iterable[str]) -> list[tuple[str, datetime, Source]]:
    """(task, slot, source) of every history row of the tasks."""
    async with run.engine.connect() as conn:
        rows = await conn.execute(
            select(
                InfluencerMetricsHistory.task_id,
                InfluencerMetricsHistory.scheduled_for,
                InfluencerMetricsHistory.source,
            ).where(InfluencerMetricsHistory.task_id.in_(list(task_ids)))
        )
        found = []
        for task_id, slot, source in rows:
            assert slot is not None, "every collected row fills a slot"
            found.append((task_id, slot, source))
        return found


async def rows_per_slot(run: Run) -> Counter[tuple[str, datetime]]:
    return Counter((task_id, slot) for task_id, slot, _ in await history(run, run.first_slots))


async def every_task_has(run: Run, slot: int) -> bool:
    stored = await rows_per_slot(run)
    return all(stored[(task_id, run.slot_of(task_id, slot))] for task_id in run.first_slots)


async def mysql_counters(engine: AsyncEngine) -> dict[str, int]:
    """MariaDB's global Questions, Connections and Com_* counters (asking adds a Question)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SHOW GLOBAL STATUS WHERE Variable_name IN ('Questions', 'Connections') "
                "OR Variable_name LIKE 'Com\\_%'"
            )
        )
        return {name: int(value) for name, value in rows}


def difference(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in before}


async def check_bad_keys(run: Run, settings: Settings) -> Check:
    """1,000 requests with random bad keys cost MySQL a handful of queries."""

    async def flood() -> Counter[int]:
        statuses: Counter[int] = Counter()
        remaining = iter(range(BAD_KEY_REQUESTS))

        async def client() -> None:
            for _ in remaining:
                key = "im_" + secrets.token_urlsafe(32)
                answer = await run.api.get(f"{INFLUENCER}/tasks", headers={"X-API-Key": key})
                statuses[answer.status_code] += 1

        await asyncio.gather(*(client() for _ in range(BAD_KEY_CONCURRENCY)))
        return statuses

    # The run's own key, used once so that Redis vouches for it through the flood: a key
    # first seen after it, from the same address, would meet the spent failure budget.
    (await run.api.get(f"{INFLUENCER}/tasks")).raise_for_status()
    before = await mysql_counters(run.engine)
    started = time.monotonic()
    statuses = await flood()
    seconds = time.monotonic() - started
    during = difference(await mysql_counters(run.engine), before)
    # The same stretch without requests: what the API (and the measuring) costs anyway.
    before = await mysql_counters(run.engine)
    await asyncio.sleep(seconds)
    idle = difference(await mysql_counters(run.engine), before)
    net = difference(during, idle)
    # The design's bound: the failure budget's burst, plus its refill over the flood.
    lookups = settings.api_auth_failure_burst + math.ceil(
        settings.api_auth_failures_per_minute * seconds / 60
    )
    return Check(
        "4 bad keys",
        passed=net["Com_select"] <= lookups and sum(statuses.values()) == BAD_KEY_REQUESTS,
        numbers={
            "requests": dict(sorted(statuses.items())),
            "seconds": round(seconds, 1),
            **{
                name: f"{during[name]} (idle {idle[name]}, net {net[name]})"
                for name in ("Questions", "Com_select", "Connections")
            },
            "other statements (net)": {
                name: count
                for name, count in net.items()
                if name.startswith("Com_") and name != "Com_select" and count
            },
            "bound on lookups": lookups,
        },
    )


async def create_tasks(run: Run) -> None:
    answer = await run.api.post(
        f"{INFLUENCER}/create_monitor_tasks",
        json={"usernames": [f"fault_{n:03d}" for n in range(TASKS)], "interval": f"{INTERVAL}s"},
    )
    answer.raise_for_status()
    ids = [task["task_id"] for task in answer.json()["data"]["created"]]
    assert len(ids) == TASKS, answer.text

    async def first_slots_stored() -> bool:
        return len({task_id for task_id, _, _ in await history(run, ids)}) == TASKS

    if not await until(first_slots_stored, "every task's first row", 2 * INTERVAL):
        raise RuntimeError("the tasks' first slots were not collected")
    for task_id, slot, _ in await history(run, ids):
        run.first_slots[task_id] = min(slot, run.first_slots.get(task_id, slot))


async def check_redis_restart(run: Run) -> Check:
    """Redis killed and restarted empty mid-slot: every slot after it stored exactly once."""
    services = {
        label: process for label, process in run.processes.running.items() if label != "redis"
    }
    await until(lambda: every_task_has(run, CRASH_SLOT - 1), "a steady slot", 2 * INTERVAL)
    await sleep_until(run.slot_start(CRASH_SLOT) + timedelta(seconds=CRASH_INTO_SLOT))
    stored = await rows_per_slot(run)
    in_flight = sum(
        1 for task_id in run.first_slots if not stored[(task_id, run.slot_of(task_id, CRASH_SLOT))]
    )
    run.processes.kill("redis")
    run.redis_killed_at = time.time()
    note(f"Redis killed with SIGKILL ({in_flight} tasks' slot {CRASH_SLOT} not stored yet)")
    run.start_redis()
    await answering(run.env["REDIS_URL"], "Redis")
    note("Redis restarted empty")
    last = CRASH_SLOT + SLOTS_AFTER_CRASH - 1
    # A slot is dropped once its task's next slot is due: by then every row is in or lost.
    await until(
        lambda: every_task_has(run, last), f"slot {last}", (SLOTS_AFTER_CRASH + 1) * INTERVAL
    )
    stored = await rows_per_slot(run)
    expected = [
        (task_id, run.slot_of(task_id, slot))
        for task_id in run.first_slots
        for slot in range(CRASH_SLOT, last + 1)
    ]
    missing = sum(1 for key in expected if stored[key] == 0)
    doubled = sum(1 for key in expected if stored[key] > 1)
    rows = await history(run, run.first_slots)
    sources = Counter(
        source.value
        for task_id, slot, source in rows
        if run.slot_of(task_id, CRASH_SLOT) <= slot <= run.slot_of(task_id, last)
    )
    restarted = [
        label
        for label, process in services.items()
        if process.poll() is not None or run.processes.running.get(label) is not process
    ]
    scheduler, collectors = run.processes.log("scheduler"), run.collector_logs()
    return Check(
        "1 Redis restarted empty",
        passed=missing == 0 and doubled == 0 and not restarted,
        numbers={
            "slots checked": f"{len(expected)} ({TASKS} tasks x slots {CRASH_SLOT}-{last})",
            "not stored at the crash": in_flight,
            "missing": missing,
            "stored twice": doubled,
            "sources": dict(sources),
            "processes restarted or exited": restarted or "none",
            "lost slots requeued (log lines)": scheduler.count('"scheduler.lost_slots_requeued"'),
            "collector outages logged": collectors.count('"collector.redis_unavailable"'),
            "dropped": collectors.count('"collector.dropped"'),
        },
    )


async def check_scheduler_outage(run: Run) -> Check:
    """The scheduler down for 40 s: the slots due meanwhile are caught up, live."""
    await sleep_until(run.slot_start(OUTAGE_AFTER_SLOT) + timedelta(seconds=OUTAGE_INTO_SLOT))
    killed_at = utcnow()
    run.processes.kill("scheduler")
    note("scheduler killed with SIGKILL")
    dropped_before = run.collector_logs().count('"collector.dropped"')
    await asyncio.sleep(SCHEDULER_OUTAGE_SECONDS)
    restarted_at = utcnow()
    run.start_service("scheduler")
    note("scheduler started again")
    # Each task's oldest slot of the outage is caught up; later missed slots are not replayed.
    following = math.ceil((restarted_at - run.base).total_seconds() / INTERVAL)
    catch_up = {}
    for task_id in run.first_slots:
        missed = [
            slot
            for n in range(OUTAGE_AFTER_SLOT, following + 1)
            if killed_at < (slot := run.slot_of(task_id, n)) <= restarted_at
        ]
        if missed:
            catch_up[task_id] = missed[0]
    await until(lambda: every_task_has(run, following), f"slot {following}", 2 * INTERVAL)
    rows = await history(run, run.first_slots)
    caught = Counter(
        source.value for task_id, slot, source in rows if catch_up.get(task_id) == slot
    )
    fallback = sum(1 for _, _, source in rows if source is not Source.LIVE)
    collectors = run.collector_logs()
    return Check(
        "2 scheduler down 40 s",
        passed=sum(caught.values()) == len(catch_up) and set(caught) <= {Source.LIVE.value},
        numbers={
            "slots due in the outage": len(catch_up),
            "catch-up rows by source": dict(caught),
            "fallback rows in the whole run": fallback,
            "dropped since the kill": collectors.count('"collector.dropped"') - dropped_before,
        },
    )


async def check_missing_user(run: Run) -> Check:
    """A user TikHub reports missing: `unavailable`, and at most 2 calls in the next 100 s."""

    async def calls() -> int:
        counts = (await run.sandbox.get("/_sandbox/calls")).json()
        return int(counts["by_username"].get(MISSING_USER, 0))

    answer = await run.api.post(
        f"{INFLUENCER}/create_monitor_task", json={"username": MISSING_USER, "interval": "30s"}
    )
    answer.raise_for_status()
    task_id = answer.json()["data"]["task_id"]
    health: dict[str, object] = {}

    async def unavailable() -> bool:
        status = await run.api.get(f"{INFLUENCER}/task_status/{task_id}")
        health.update(status.json()["data"]["health"])
        return health["state"] == "unavailable"

    turned = await until(unavailable, "health unavailable", 2 * INTERVAL)
    first_calls = await calls()
    await asyncio.sleep(MISSING_USER_WATCH_SECONDS)
    later_calls = await calls() - first_calls
    still = await unavailable()
    rows = await history(run, [task_id])
    return Check(
        "3 missing user",
        passed=turned and still and later_calls <= MISSING_USER_MAX_CALLS and not rows,
        numbers={
            "health": health["state"],
            "consecutive_failures": health["consecutive_failures"],
            "last_error": health["last_error"],
            "calls until unavailable": first_calls,
            f"calls in the next {MISSING_USER_WATCH_SECONDS} s": later_calls,
            "history rows": len(rows),
        },
    )


def sandbox_arrivals(log: str) -> list[float]:
    """When each TikHub call reached the sandbox (unix time), from its request log lines."""
    arrivals = []
    for line in log.splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        if entry.get("event") == "sandbox.request" and entry["path"].startswith("/api/"):
            answered = datetime.fromisoformat(entry["timestamp"]).timestamp()
            arrivals.append(answered - entry["duration_ms"] / 1000)
    return sorted(arrivals)


def busiest_second(arrivals: list[float]) -> tuple[int, float]:
    """The most arrivals in any window [t, t + 1 s), and where it starts."""
    most, start, end = 0, 0.0, 0
    for first, moment in enumerate(arrivals):
        while end < len(arrivals) and arrivals[end] < moment + 1.0:
            end += 1
        if end - first > most:
            most, start = end - first, moment
    return most, start


def crowded_seconds(arrivals: list[float], limit: float) -> int:
    """How many calls open a one-second window holding more than `limit` calls."""
    crowd = math.floor(limit) + 1
    return sum(
        1
        for first in range(len(arrivals) - crowd + 1)
        if arrivals[first + crowd - 1] < arrivals[first] + 1.0
    )


def check_rate_limit(run: Run, settings: Settings) -> Check:
    """No more calls in any sliding second than the limit, by their arrival at the sandbox."""
    limit = settings.tikhub_rate_limit_per_second
    sources = {"sandbox log": sandbox_arrivals(run.processes.log("sandbox"))}
    if run.capture is not None:
        sources["packet capture"] = run.capture.stop()
    # Calls booked before the crash may still be waiting (up to the longest wait) when the
    # restarted Redis hands out the whole budget again: the seconds around it apart.
    lost = (
        run.redis_killed_at - 1.0,
        run.redis_killed_at + settings.collector_rate_limit_max_wait_seconds + 1.0,
    )
    numbers: dict[str, object] = {"limit": limit}
    for source, arrivals in sources.items():
        most, start = busiest_second(arrivals)
        at = f"{datetime.fromtimestamp(start, UTC):%H:%M:%S.%f}"[:-3]
        elsewhere = busiest_second([t for t in arrivals if not lost[0] <= t <= lost[1]])[0]
        numbers[source] = (
            f"{len(arrivals)} calls over {arrivals[-1] - arrivals[0]:.0f} s, at most {most} in a "
            f"second (from {at}), {crowded_seconds(arrivals, limit)} calls opening a second "
            f"over the limit; at most {elsewhere} away from the Redis restart"
        )
    # The most exact record decides: the kernel's packet times, else the sandbox's own.
    arrivals = sources.get("packet capture", sources["sandbox log"])
    passed = bool(arrivals) and busiest_second(arrivals)[0] <= limit
    return Check("5 TikHub rate limit", passed=passed, numbers=numbers)


def install_mariadb(datadir: Path) -> None:
    """A fresh MariaDB data directory."""
    installed = subprocess.run(
        [
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={datadir}",
            # root without a password over TCP, as the product's default DATABASE_URL has it
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ],
        capture_output=True,
        check=False,
    )
    if installed.returncode != 0:
        raise RuntimeError(f"mariadb-install-db failed: {installed.stderr.decode()}")


async def run_checks(args: argparse.Namespace, workdir: Path) -> list[Check]:
    (workdir / "logs").mkdir()
    processes = Processes(workdir / "logs")
    datadir, socket_path = workdir / "mariadb", workdir / "mariadb.sock"
    await asyncio.to_thread(install_mariadb, datadir)
    processes.start(
        "mariadb",
        [
            "mariadbd",
            "--no-defaults",
            f"--datadir={datadir}",
            f"--socket={socket_path}",
            f"--port={args.mariadb_port}",
            "--bind-address=127.0.0.1",
            "--user=root",
            "--innodb-buffer-pool-size=64M",
            "--skip-log-bin",
        ],
    )
    api_port, sandbox_port = free_port(), free_port()
    settings = Settings(
        database_url=f"mysql+asyncmy://root@127.0.0.1:{args.mariadb_port}/instagram_monitor",
        redis_url=f"redis://127.0.0.1:{args.redis_port}/0",
        redis_prefix="faults",
    )
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "REDIS_PREFIX": settings.redis_prefix,
        "API_PORT": str(api_port),
        "API_AUTH": "required",
        "SANDBOX_PORT": str(sandbox_port),
        # Collections stay in flight long enough for every crash to catch some.
        "SANDBOX_LATENCY_MS": str(SANDBOX_LATENCY_MS),
        # One line per request, with its duration: the arrival times of check 5.
        "SANDBOX_LOG_LEVEL": "DEBUG",
        "SANDBOX_LOG_FORMAT": "json",
        "TIKHUB_BASE_URL": f"http://127.0.0.1:{sandbox_port}",
        "TIKHUB_API_KEY": "fault-run-sandbox-key",
        "SCHEDULER_METRICS_PORT": "0",
        "COLLECTOR_METRICS_PORT": "0",
        "LOG_FORMAT": "json",
    }
    try:
        capture: WireCapture | None = WireCapture(sandbox_port)
    except PermissionError:
        note("no CAP_NET_RAW for a packet capture: check 5 reads the sandbox's log alone")
        capture = None
    engine = create_engine(settings)
    try:
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=30) as api,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{sandbox_port}", timeout=30) as sandbox,
        ):
            run = Run(
                processes, args.mariadb_port, args.redis_port, env, engine, api, sandbox, capture
            )
            return await sequence(run, settings)
    finally:
        if capture is not None:
            capture.stop()
        await engine.dispose()
        # The scheduler first (no new jobs), the collectors, then what they call; the servers.
        order = ["scheduler", "collector", "collector-2", "api", "sandbox", "redis", "mariadb"]
        codes = processes.stop(label for label in order if label in processes.running)
        note(f"processes stopped, exit codes {codes}")


async def sequence(run: Run, settings: Settings) -> list[Check]:
    await accepting(run.mariadb_port, "MariaDB")
    run.start_redis()
    await answering(run.env["REDIS_URL"], "Redis")
    note(await asyncio.to_thread(command, ["-m", "shared.migrate"], run.env))
    key = await asyncio.to_thread(
        command, ["-m", "services.api", "keys", "create", "fault-run"], run.env
    )
    run.api.headers["X-API-Key"] = key
    run.start_service("sandbox")
    run.start_service("api")
    await answering(f"{run.env['TIKHUB_BASE_URL']}/_sandbox/health", "the sandbox")
    await answering(f"http://127.0.0.1:{run.env['API_PORT']}/healthz", "the API")
    note("sandbox and API up; flooding the API with bad keys")
    checks = [await check_bad_keys(run, settings)]
    note(checks[-1].report())
    for label in ("scheduler", "collector", "collector-2"):
        run.start_service(label)
    await create_tasks(run)
    note(f"{TASKS} tasks collecting every {INTERVAL} s, first slot {run.base:%H:%M:%S}")
    for check in (check_redis_restart, check_scheduler_outage, check_missing_user):
        checks.append(await check(run))
        note(checks[-1].report())
    checks.append(check_rate_limit(run, settings))
    note(checks[-1].report())
    return checks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mariadb-port", type=int, default=3407)
    parser.add_argument("--redis-port", type=int, default=6480)
    parser.add_argument("--keep", action="store_true", help="keep the logs and data directory")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="faults-", dir="/tmp"))
    load = os.getloadavg()
    started = datetime.now(UTC)
    try:
        checks = asyncio.run(run_checks(args, workdir))
    finally:
        if args.keep:
            print(f"logs and data kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    print(
        f"\nFault run {started:%Y-%m-%d %H:%M} UTC, commit {commit}, {platform.python_version()}, "
        f"load average before {load[0]:.2f}, after {os.getloadavg()[0]:.2f}"
    )
    for check in sorted(checks, key=lambda check: check.name):
        print(check.report())
    return 0 if all(check.passed for check in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
