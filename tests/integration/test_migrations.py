"""The Alembic migrations build the schema the models describe, and take it down again."""

import asyncio
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta

import orjson
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import column, insert, inspect, make_url, select, table, text
from sqlalchemy.ext.asyncio import AsyncSession

from shared import migrate
from shared.db import create_engine, create_session_factory, wait_for_schema
from shared.models import (
    Base,
    InfluencerDaily,
    InfluencerHourly,
    InfluencerMetricsHistory,
    PostMetricsHistory,
    Source,
    Task,
    TaskStatus,
    TaskType,
)
from shared.repositories.driver import DriverReads
from shared.repositories.history import INFLUENCER_HISTORY, POST_HISTORY, HistoryRepository
from shared.repositories.tasks import TaskRepository, task_by_target
from shared.settings import Settings
from tests.conftest import database_url_named, drop_database

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
TABLES = {
    "task",
    "influencer_metrics_history",
    "post_metrics_history",
    "api_key",
    "influencer_hourly",
    "influencer_daily",
    "post_hourly",
    "post_daily",
    "tikhub_usage",
    "tikhub_usage_flush",
    "tikhub_budget_exceeded",
    "post_sample",
    "post_sample_item",
}


async def test_upgrade_creates_database_and_tables_then_downgrade_removes_them() -> None:
    url = database_url_named(f"im_migrate_{uuid.uuid4().hex[:8]}")
    engine = create_engine(Settings(database_url=url), pool_size=1)
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
            assert tables >= TABLES
            assert not tables & {"influencer_history_page", "post_history_page"}
            drift = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
            assert drift == [], "the migration and the models disagree"
            unique = await conn.run_sync(
                lambda sync: inspect(sync).get_unique_constraints("post_metrics_history")
            )
            assert {("task_id", "scheduled_for"), ("task_id", "imported_at")} == {
                tuple(constraint["column_names"]) for constraint in unique
            }

        await asyncio.to_thread(migrate.upgrade, url)  # a second run is a no-op

        await asyncio.to_thread(migrate.downgrade, url, "base")
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
            assert not tables & TABLES
            version = await conn.scalar(text("SELECT COUNT(*) FROM alembic_version"))
            assert version == 0
    finally:
        await engine.dispose()
        await drop_database(url)


async def task_of_0003(session: AsyncSession, kind: TaskType, target: str) -> str:
    """A task stored with the columns `task` had at revision 0003 only."""
    task_id = str(uuid.uuid4())
    row = {
        "id": task_id,
        "task_type": kind,
        ("username" if kind is TaskType.INFLUENCER else "post_code"): target,
        "interval_seconds": 60,
        "status": TaskStatus.ACTIVE,
        "created_at": T0,
        "updated_at": T0,
        "next_run_at": T0,
        "consecutive_failures": 0,
    }
    # A plain table of those columns: the model's insert would also send the later ones.
    columns = (column(name, Task.__table__.c[name].type) for name in row)
    await session.execute(insert(table("task", *columns)), row)
    return task_id


async def test_the_rows_migration_keeps_the_history_and_tells_post_codes_apart() -> None:
    url = database_url_named(f"im_migrate_{uuid.uuid4().hex[:8]}")
    engine = create_engine(Settings(database_url=url), pool_size=1)
    sessions = create_session_factory(engine)
    try:
        await asyncio.to_thread(migrate.upgrade, url, "0003")
        async with sessions.begin() as session:
            profile_id = await task_of_0003(session, TaskType.INFLUENCER, "natgeo")
            post_id = await task_of_0003(session, TaskType.POST, "CxYQJO8xuC6")
            # Stored out of time order, as late jobs do.
            minutes = [*range(250), *range(260, 300), *range(250, 260)]
            await session.execute(
                insert(InfluencerMetricsHistory),
                [
                    {
                        "task_id": profile_id,
                        "scheduled_for": T0 + timedelta(minutes=m),
                        "recorded_at": T0 + timedelta(minutes=m, seconds=1),
                        "user_id": 787132,
                        "username": "natgeo",
                        "follower_count": m,
                        "source": Source.LIVE,
                    }
                    for m in minutes
                ],
            )
            await session.execute(
                insert(PostMetricsHistory),
                [
                    {
                        "task_id": post_id,
                        "scheduled_for": T0 + timedelta(minutes=m),
                        "recorded_at": T0 + timedelta(minutes=m, seconds=1),
                        "post_code": "CxYQJO8xuC6",
                        "like_count": m,
                        "comment_count": None,
                        "play_count": None if m % 2 else 10 * m,
                        "source": Source.LIVE,
                    }
                    for m in range(3)
                ],
            )

        await asyncio.to_thread(migrate.upgrade, url)

        async with sessions.begin() as session:
            history = await HistoryRepository(session).reads()
            profiles = orjson.loads(
                await history.points_json(INFLUENCER_HISTORY, profile_id, limit=1000)
            )
            posts = orjson.loads(await history.points_json(POST_HISTORY, post_id, limit=10))
            other_case = await TaskRepository(session).create(
                TaskType.POST, "cxyqjo8xuc6", interval_seconds=60, now=T0
            )
            found = await task_by_target(
                await DriverReads.of_session(session), TaskType.POST, "CXYQJO8XUC6"
            )
        assert [p["follower_count"] for p in profiles] == list(range(299, -1, -1))
        assert [(p["like_count"], p["play_count"]) for p in posts] == [(2, 20), (1, None), (0, 0)]
        assert other_case.id != post_id
        assert found is None
        async with sessions() as session:
            hourly = await session.scalars(
                select(InfluencerHourly.follower_count).order_by(InfluencerHourly.bucket_start)
            )
            daily = await session.scalars(select(InfluencerDaily.follower_count))
        # The roll-ups start filled: the last point of each hour, and of the day.
        assert list(hourly) == [59, 119, 179, 239, 299]
        assert list(daily) == [299]
    finally:
        await engine.dispose()
        await drop_database(url)


async def test_a_worker_waits_for_the_schema_of_its_version() -> None:
    url = database_url_named(f"im_migrate_{uuid.uuid4().hex[:8]}")
    engine = create_engine(Settings(database_url=url), pool_size=1)
    try:
        await asyncio.to_thread(migrate.upgrade, url, "0002")
        waiting = asyncio.create_task(wait_for_schema(engine, poll_seconds=0.05))
        await asyncio.sleep(0.5)
        assert not waiting.done()
        await asyncio.to_thread(migrate.upgrade, url)
        await asyncio.wait_for(waiting, timeout=5)
    finally:
        await engine.dispose()
        await drop_database(url)


async def run_migrate_command(url: str) -> tuple[str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shared.migrate",
        env={**os.environ, "DATABASE_URL": url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode(), err.decode()


async def test_the_migrate_command_says_which_database_it_created_and_migrated() -> None:
    name = f"im_migrate_{uuid.uuid4().hex[:8]}"
    url = database_url_named(name)
    parsed = make_url(url)
    where = f"database {name} on {parsed.host}:{parsed.port or 3306} as {parsed.username}"
    try:
        out, err = await run_migrate_command(url)
        assert out.strip() == f"{where}: created and migrated to revision {migrate.head_revision()}"
        # MariaDB's notes (the version table's key name, a database that exists) are no
        # problem of the user's.
        assert "ignored for PRIMARY key" not in err
        out, err = await run_migrate_command(url)
        assert out.strip() == f"{where}: migrated to revision {migrate.head_revision()}"
        assert "database exists" not in err
    finally:
        await drop_database(url)
