"""The Alembic migrations build the schema the models describe, and take it down again."""

import asyncio
import uuid

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from shared import migrate
from shared.db import create_engine
from shared.models import Base
from shared.settings import Settings
from tests.conftest import database_url_named, drop_database

TABLES = {"task", "influencer_metrics_history", "post_metrics_history"}


async def test_upgrade_creates_database_and_tables_then_downgrade_removes_them() -> None:
    url = database_url_named(f"im_migrate_{uuid.uuid4().hex[:8]}")
    engine = create_engine(Settings(database_url=url), pool_size=1)
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        async with engine.connect() as conn:
            tables = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
            assert tables >= TABLES
            drift = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
            assert drift == [], "the migration and the models disagree"
            unique = await conn.run_sync(
                lambda sync: inspect(sync).get_unique_constraints("post_metrics_history")
            )
            assert {"column_names": ["task_id", "scheduled_for"]}.items() <= unique[0].items()

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
