"""Creator engagement: `task.track_posts`, and the samples of a creator's recent posts.

Additive only: the new column has a default that old services' inserts get, and old services
never read the new tables, so no service needs to stop.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "task",
        sa.Column("track_posts", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "post_sample",
        sa.Column("task_id", sa.CHAR(36), nullable=False),
        sa.Column("scheduled_for", mysql.DATETIME(fsp=6), nullable=False),
        sa.Column("sampled_at", mysql.DATETIME(fsp=6), nullable=False),
        sa.Column("follower_count", sa.BigInteger()),
        sa.Column("error", sa.Text()),
        sa.ForeignKeyConstraint(
            ["task_id"], ["task.id"], name="fk_post_sample_task_id_task", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_id", "scheduled_for"),
        mysql_charset="utf8mb4",
    )
    op.create_table(
        "post_sample_item",
        sa.Column("task_id", sa.CHAR(36), nullable=False),
        sa.Column("scheduled_for", mysql.DATETIME(fsp=6), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("post_code", sa.String(255, collation="utf8mb4_bin"), nullable=False),
        sa.Column("post_id", sa.String(50)),
        sa.Column("published_at", mysql.DATETIME(fsp=6)),
        sa.Column("media_type", sa.Enum("image", "video", "carousel", name="media_type")),
        sa.Column("is_pinned", sa.Boolean(), nullable=False),
        sa.Column("like_count", sa.BigInteger()),
        sa.Column("comment_count", sa.BigInteger()),
        sa.Column("play_count", sa.BigInteger()),
        sa.ForeignKeyConstraint(
            ["task_id", "scheduled_for"],
            ["post_sample.task_id", "post_sample.scheduled_for"],
            name="fk_post_sample_item_task_id_post_sample",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("task_id", "scheduled_for", "position"),
        sa.Index("ix_post_sample_item_post_code_scheduled_for", "post_code", "scheduled_for"),
        mysql_charset="utf8mb4",
    )


def downgrade() -> None:
    op.drop_table("post_sample_item")
    op.drop_table("post_sample")
    op.drop_column("task", "track_posts")
