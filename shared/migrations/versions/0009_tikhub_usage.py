"""TikHub usage ledger: calls and cost per UTC day, task, endpoint and key; the flush batches
already applied; the days the daily budget was reached.

New tables only: old services neither read nor write them, so no service needs to stop.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tikhub_usage",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("task_id", sa.CHAR(36), nullable=False),
        sa.Column("endpoint", sa.String(255), nullable=False),
        sa.Column("key_fingerprint", sa.CHAR(16), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("billable_calls", sa.BigInteger(), nullable=False),
        sa.Column("cost_micro_usd", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day", "task_id", "endpoint", "key_fingerprint", name="pk_tikhub_usage"
        ),
    )
    op.create_index("ix_tikhub_usage_task_id_day", "tikhub_usage", ["task_id", "day"])
    op.create_table(
        "tikhub_usage_flush",
        sa.Column("batch_id", sa.CHAR(32), nullable=False),
        sa.Column("flushed_at", mysql.DATETIME(fsp=6), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name="pk_tikhub_usage_flush"),
    )
    op.create_index("ix_tikhub_usage_flush_flushed_at", "tikhub_usage_flush", ["flushed_at"])
    op.create_table(
        "tikhub_budget_exceeded",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("exceeded_at", mysql.DATETIME(fsp=6), nullable=False),
        sa.PrimaryKeyConstraint("day", name="pk_tikhub_budget_exceeded"),
    )


def downgrade() -> None:
    op.drop_table("tikhub_budget_exceeded")
    op.drop_table("tikhub_usage_flush")
    op.drop_table("tikhub_usage")
