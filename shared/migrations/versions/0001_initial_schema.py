"""Initial schema: tasks and the two metric history tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TASK_TYPE = sa.Enum("influencer", "post", name="task_type")
TASK_STATUS = sa.Enum("active", "paused", "stopped", name="task_status")
SOURCE = sa.Enum("live", "fallback", name="history_source")
INSTAGRAM_ID = sa.BigInteger().with_variant(mysql.BIGINT(unsigned=True), "mysql", "mariadb")


def utc_datetime(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, mysql.DATETIME(fsp=6), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "task",
        sa.Column("id", sa.CHAR(36), nullable=False),
        sa.Column("task_type", TASK_TYPE, nullable=False),
        sa.Column("username", sa.String(255), nullable=True),
        sa.Column("post_code", sa.String(255), nullable=True),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("status", TASK_STATUS, nullable=False),
        utc_datetime("created_at"),
        utc_datetime("updated_at"),
        utc_datetime("next_run_at"),
        utc_datetime("last_run_at", nullable=True),
        utc_datetime("last_success_at", nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("user_id", INSTAGRAM_ID, nullable=True),
        sa.Column("post_id", sa.String(50), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username", name=op.f("uq_task_username")),
        sa.UniqueConstraint("post_code", name=op.f("uq_task_post_code")),
        mysql_charset="utf8mb4",
    )
    op.create_index(op.f("ix_task_status_next_run_at"), "task", ["status", "next_run_at"])
    op.create_index(op.f("ix_task_user_id"), "task", ["user_id"])
    op.create_index(op.f("ix_task_task_type_created_at"), "task", ["task_type", "created_at"])

    op.create_table(
        "influencer_metrics_history",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("user_id", INSTAGRAM_ID, nullable=True),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("bio", sa.Text(), nullable=True),
        sa.Column("follower_count", sa.BigInteger(), nullable=True),
        sa.Column("following_count", sa.BigInteger(), nullable=True),
        sa.Column("post_count", sa.BigInteger(), nullable=True),
        utc_datetime("recorded_at"),
        sa.Column("task_id", sa.CHAR(36), nullable=False),
        utc_datetime("scheduled_for"),
        sa.Column("source", SOURCE, nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["task.id"],
            name=op.f("fk_influencer_metrics_history_task_id_task"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "task_id",
            "scheduled_for",
            name=op.f("uq_influencer_metrics_history_task_id_scheduled_for"),
        ),
        mysql_charset="utf8mb4",
    )
    op.create_index(
        op.f("ix_influencer_metrics_history_user_id_recorded_at"),
        "influencer_metrics_history",
        ["user_id", "recorded_at"],
    )

    op.create_table(
        "post_metrics_history",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("post_code", sa.String(255), nullable=False),
        sa.Column("post_id", sa.String(50), nullable=True),
        sa.Column("like_count", sa.BigInteger(), nullable=True),
        sa.Column("comment_count", sa.BigInteger(), nullable=True),
        sa.Column("play_count", sa.BigInteger(), nullable=True),
        utc_datetime("recorded_at"),
        sa.Column("task_id", sa.CHAR(36), nullable=False),
        utc_datetime("scheduled_for"),
        sa.Column("source", SOURCE, nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["task.id"],
            name=op.f("fk_post_metrics_history_task_id_task"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "task_id", "scheduled_for", name=op.f("uq_post_metrics_history_task_id_scheduled_for")
        ),
        mysql_charset="utf8mb4",
    )
    op.create_index(
        op.f("ix_post_metrics_history_post_code_recorded_at"),
        "post_metrics_history",
        ["post_code", "recorded_at"],
    )


def downgrade() -> None:
    op.drop_table("post_metrics_history")
    op.drop_table("influencer_metrics_history")
    op.drop_table("task")
