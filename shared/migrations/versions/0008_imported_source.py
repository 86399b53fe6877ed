"""Imported points: history brought in from another tracker, stored with `source = 'imported'`.

Such a point has no slot of the schedule, so `scheduled_for` becomes nullable (an imported row
holds NULL there and never takes a slot a collection needs). A point is identified by its time:
a virtual column holds `recorded_at` of imported rows only, and a unique key on it makes two
concurrent imports of one file store each point once. Every statement works while old services
run: they never write NULL slots or the new source value, and the new column is computed.

Downgrade deletes the imported points (the old schema cannot hold them) and their roll-up
buckets; `python -m shared.rollups rebuild` then refills the buckets from the collected rows.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HISTORY_TABLES = ("influencer_metrics_history", "post_metrics_history")
ROLLUP_TABLES = ("influencer_hourly", "influencer_daily", "post_hourly", "post_daily")
WITH_IMPORTED = "ENUM('live','fallback','imported') NOT NULL"
WITHOUT_IMPORTED = "ENUM('live','fallback') NOT NULL"


def upgrade() -> None:
    # Appending an enum value is an in-place change of the table's metadata.
    for table in ROLLUP_TABLES:
        op.execute(f"ALTER TABLE {table} MODIFY source {WITH_IMPORTED}")
    for table in HISTORY_TABLES:
        op.execute(
            f"ALTER TABLE {table} MODIFY source {WITH_IMPORTED}, "
            "MODIFY scheduled_for DATETIME(6) NULL, "
            "ADD COLUMN imported_at DATETIME(6) "
            "AS (IF(source = 'imported', recorded_at, NULL)) VIRTUAL"
        )
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT uq_{table}_task_id_imported_at "
            "UNIQUE (task_id, imported_at)"
        )


def downgrade() -> None:
    for table in ROLLUP_TABLES:
        op.execute(f"DELETE FROM {table} WHERE source = 'imported'")  # noqa: S608
        op.execute(f"ALTER TABLE {table} MODIFY source {WITHOUT_IMPORTED}")
    for table in HISTORY_TABLES:
        op.execute(f"DELETE FROM {table} WHERE source = 'imported'")  # noqa: S608
        op.execute(
            f"ALTER TABLE {table} DROP INDEX uq_{table}_task_id_imported_at, "
            "DROP COLUMN imported_at, MODIFY scheduled_for DATETIME(6) NOT NULL, "
            f"MODIFY source {WITHOUT_IMPORTED}"
        )
