"""Webhook benchmark: how soon alert events reach a receiver, and that a receiver that was down
gets every event exactly once.

A real scheduler and collector process against a database and Redis prefix of the run's own
(removed at the end), a receiver on this machine, N profile tasks with one `above` alert each
and one webhook. Phase 1: a counted point crossing the threshold is stored for every task within
the same second, through the collector's writer (once a test event has shown both processes
up); the latency of each `alert.triggered` is from
its row's commit to its arrival at the receiver (p50, p95, max). Phase 2: the receiver answers
503 for `--down-seconds`, a point below the threshold is stored for every task, and the run
waits until every `alert.resolved` has been accepted; it counts how many times each event id
was accepted (each must be exactly once) and how long after the receiver came back the last one
arrived. `make bench-webhooks`.
"""

import argparse
import asyncio
import json
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from collector import process  # bench/collector.py: the same child processes
from redis.asyncio import Redis
from sqlalchemy import func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.api.alerting import new_secret
from services.collector.writer import SlotRecord, SlotWriter
from shared import migrate
from shared.db import create_engine, create_session_factory
from shared.events import EventType, record_event
from shared.models import (
    AlertCondition,
    DeliveryStatus,
    Source,
    Task,
    TaskType,
    WebhookDelivery,
    utcnow,
)
from shared.repositories.alerts import AlertRepository
from shared.repositories.tasks import TaskRepository
from shared.repositories.webhooks import WebhookRepository
from shared.settings import Settings

THRESHOLD = 1000
POLL_SECONDS = 0.2


class Receiver(ThreadingHTTPServer):
    """Notes each request's arrival, event id and body; answers 503 while `down` is set."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.accepted: list[tuple[float, str, dict[str, Any]]] = []
        self.refused = 0
        self.down = threading.Event()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        arrived = time.time()
        down = self.server.down.is_set()
        with self.server.lock:
            if down:
                self.server.refused += 1
            else:
                self.server.accepted.append((arrived, self.headers["webhook-id"], json.loads(body)))
        self.send_response(503 if down else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


async def prepare(sessions: async_sessionmaker[AsyncSession], count: int, url: str) -> list[Task]:
    """`count` profile tasks, not due for a day (nothing calls TikHub), each with an alert."""
    now = utcnow()
    async with sessions.begin() as session:
        tasks = TaskRepository(session)
        created = [
            await tasks.create(TaskType.INFLUENCER, f"bench{n}", interval_seconds=30, now=now)
            for n in range(count)
        ]
        await session.execute(update(Task).values(next_run_at=now + timedelta(days=1)))
        alerts = AlertRepository(session)
        for task in created:
            await alerts.create(
                task_id=task.id,
                metric="follower_count",
                condition=AlertCondition.ABOVE,
                threshold=THRESHOLD,
                window=None,
                cooldown_seconds=0,
                now=now,
            )
        await WebhookRepository(session).create(
            url=url, description="bench", event_types=None, secret=new_secret(), now=now
        )
    return created


async def store_all(writer: SlotWriter, tasks: list[Task], followers: int) -> dict[str, float]:
    """Store one counted point per task, all at once; when each one's commit returned."""
    committed: dict[str, float] = {}
    slot = utcnow().replace(microsecond=0)

    async def store(task: Task) -> None:
        now = utcnow()
        row = {
            "task_id": task.id,
            "username": task.target,
            "user_id": None,
            "bio": None,
            "follower_count": followers,
            "following_count": None,
            "post_count": None,
            "scheduled_for": slot,
            "recorded_at": now,
            "source": Source.LIVE,
        }
        await writer.write(SlotRecord(task.id, TaskType.INFLUENCER, slot, row, now))
        committed[task.id] = time.time()

    await asyncio.gather(*(store(task) for task in tasks))
    return committed


async def wait_until(condition: Any, what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(POLL_SECONDS)


async def open_deliveries(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        found = await conn.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.status != DeliveryStatus.SUCCEEDED)
        )
        return int(found or 0)


def accepted_of(receiver: Receiver, event_type: str) -> list[tuple[float, str, dict[str, Any]]]:
    with receiver.lock:
        return [a for a in receiver.accepted if a[2]["type"] == event_type]


async def run(args: argparse.Namespace) -> dict[str, object]:
    base = Settings()
    run_id = uuid.uuid4().hex[:8]
    database_url = (
        make_url(base.database_url)
        .set(database=f"im_bench_webhooks_{run_id}")
        .render_as_string(hide_password=False)
    )
    prefix = f"imbench.{run_id}"
    await asyncio.to_thread(migrate.upgrade, database_url)
    settings = base.model_copy(update={"database_url": database_url})
    engine = create_engine(settings, isolation_level="READ COMMITTED")
    sessions = create_session_factory(engine)
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hooks"
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.redis_url,
        "REDIS_PREFIX": prefix,
        "TIKHUB_BASE_URL": "http://127.0.0.1:9",
        "TIKHUB_API_KEY": "bench-unused",
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "SCHEDULER_METRICS_PORT": "0",
        "COLLECTOR_METRICS_PORT": "0",
        "LOG_LEVEL": "WARNING",
    }
    logs = Path(args.log_dir)
    python = sys.executable
    try:
        tasks = await prepare(sessions, args.tasks, url)
        writer = SlotWriter(sessions)
        with (
            process([python, "-m", "services.scheduler"], env, logs / "scheduler.log"),
            process([python, "-m", "services.collector"], env, logs / "collector.log"),
        ):
            # Both processes are up once a test event has made it through.
            async with sessions.begin() as session:
                await record_event(session, EventType.WEBHOOK_TEST, {"message": "warm-up"})
            await wait_until(
                lambda: accepted_of(receiver, "webhook.test"), "the warm-up event", 300
            )
            committed = await store_all(writer, tasks, THRESHOLD + 1)
            await wait_until(
                lambda: len(accepted_of(receiver, "alert.triggered")) >= args.tasks,
                "every alert.triggered",
                300,
            )
            latencies = sorted(
                arrived - committed[payload["data"]["task_id"]]
                for arrived, _, payload in accepted_of(receiver, "alert.triggered")
            )

            receiver.down.set()
            await store_all(writer, tasks, THRESHOLD - 1)
            await asyncio.sleep(args.down_seconds)
            receiver.down.clear()
            back = time.time()
            await wait_until(
                lambda: len(accepted_of(receiver, "alert.resolved")) >= args.tasks,
                "every alert.resolved",
                args.down_seconds + 3600,
            )
            await asyncio.sleep(2)  # a repeat would arrive now
            resolved = accepted_of(receiver, "alert.resolved")
            still_open = await open_deliveries(engine)
        times_accepted = Counter(event_id for _, event_id, _ in resolved)
        quantiles = statistics.quantiles(latencies, n=100)
        return {
            "tasks": args.tasks,
            "triggered_latency_s": {
                "p50": round(quantiles[49], 3),
                "p95": round(quantiles[94], 3),
                "max": round(latencies[-1], 3),
            },
            "down_seconds": args.down_seconds,
            "refused_while_down": receiver.refused,
            "resolved_events": len(times_accepted),
            "accepted_once": sum(1 for n in times_accepted.values() if n == 1),
            "accepted_more_than_once": sum(1 for n in times_accepted.values() if n > 1),
            "last_arrival_after_back_s": round(max(a for a, _, _ in resolved) - back, 1),
            "deliveries_not_succeeded": still_open,
        }
    finally:
        receiver.shutdown()
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS `{make_url(database_url).database}`"))
        await engine.dispose()
        redis = Redis.from_url(settings.redis_url)
        stale = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
        if stale:
            await redis.delete(*stale)
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--down-seconds", type=float, default=600)
    parser.add_argument("--log-dir", default=".")
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
