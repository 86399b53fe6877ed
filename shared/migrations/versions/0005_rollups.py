"""Roll-ups: the last counted point of each task per UTC hour and per UTC day.

They are projections of the history rows (statistics and bucketed history read them instead
of the rows), written with each row and rebuilt by `python -m shared.rollups rebuild`. This
migration fills them from the rows already stored with SQL of its own: a migration must keep
doing what it did when later code changes the roll-ups.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INFLUENCER_TABLES = ("influencer_hourly", "influencer_daily")
POST_TABLES = ("post_hourly", "post_daily")
INFLUENCER_FIELDS = ("follower_count", "following_count", "post_count", "bio")
POST_FIELDS = ("like_count", "comment_count", "play_count")
BUCKETS = ("DATE_FORMAT(recorded_at, '%Y-%m-%d %H:00:00')", "DATE(recorded_at)")


def _bucket_table(name: str, *metrics: sa.Column[object]) -> None:
    op.create_table(
        name,
        sa.Column("task_id", sa.CHAR(36), nullable=False),
        sa.Column("bucket_start", mysql.DATETIME(fsp=6), nullable=False),
        sa.Column("recorded_at", mysql.DATETIME(fsp=6), nullable=False),
        sa.Column(
            "source",
            sa.Enum("live", "fallback", name="history_source"),
            nullable=False,
        ),
        *metrics,
        sa.ForeignKeyConstraint(
            ["task_id"], ["task.id"], name=f"fk_{name}_task_id_task", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_id", "bucket_start"),
        mysql_charset="utf8mb4",
    )


def upgrade() -> None:
    for name in INFLUENCER_TABLES:
        _bucket_table(
            name,
            sa.Column("follower_count", sa.BigInteger()),
            sa.Column("following_count", sa.BigInteger()),
            sa.Column("post_count", sa.BigInteger()),
            sa.Column("bio", sa.Text()),
        )
    for name in POST_TABLES:
        _bucket_table(
            name,
            sa.Column("like_count", sa.BigInteger()),
            sa.Column("comment_count", sa.BigInteger()),
            sa.Column("play_count", sa.BigInteger()),
        )
    for history, fields, tables in (
        ("influencer_metrics_history", INFLUENCER_FIELDS, INFLUENCER_TABLES),
        ("post_metrics_history", POST_FIELDS, POST_TABLES),
    ):
        for table, bucket in zip(tables, BUCKETS, strict=True):
            columns = ", ".join(("task_id", "recorded_at", "source", *fields))
            # Only this module's own names go into the statement.
            op.execute(
                f"INSERT INTO {table} (bucket_start, {columns}) "  # noqa: S608
                f"SELECT bucket_start, {columns} FROM (SELECT {bucket} AS bucket_start, {columns}, "
                f"ROW_NUMBER() OVER (PARTITION BY task_id, {bucket} "
                "ORDER BY recorded_at DESC, id DESC) AS newest "
                f"FROM {history} WHERE source <> 'fallback') AS ranked WHERE newest = 1"
            )


def downgrade() -> None:
    for name in (*POST_TABLES, *INFLUENCER_TABLES):
        op.drop_table(name)
