"""Task health and the slot in flight: what the last collections of a task amounted to, and
the slot the scheduler handed to the collectors and not yet seen done (so that a Redis that
loses its queue loses no slot).

Additive: `health` has a server default and the other columns are nullable, so services of the
previous version keep working while this one rolls out. Existing tasks get the state their
counters already say.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "task",
        sa.Column(
            "health",
            sa.Enum("pending", "ok", "failing", "unavailable", name="task_health"),
            nullable=False,
            server_default="pending",
        ),
    )
    op.add_column("task", sa.Column("claimed_slot", mysql.DATETIME(fsp=6)))
    op.add_column("task", sa.Column("claim_expires_at", mysql.DATETIME(fsp=6)))
    op.create_index(op.f("ix_task_claim_expires_at"), "task", ["claim_expires_at"])
    op.execute(
        "UPDATE task SET health = CASE"
        " WHEN last_run_at IS NULL THEN 'pending'"
        " WHEN consecutive_failures = 0 THEN 'ok'"
        " ELSE 'failing' END"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_task_claim_expires_at"), table_name="task")
    op.drop_column("task", "claim_expires_at")
    op.drop_column("task", "claimed_slot")
    op.drop_column("task", "health")
