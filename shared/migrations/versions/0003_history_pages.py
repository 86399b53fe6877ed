"""History pages: tables that once kept each target's history pre-rendered as JSON.

Revision 0004 drops them again (the history rows are the only record), so a fresh database no
longer fills them here: this revision only creates the empty tables that 0004 removes, and a
database already at 0003 keeps its state until 0004 runs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTAGRAM_ID = sa.BigInteger().with_variant(mysql.BIGINT(unsigned=True), "mysql", "mariadb")


def create_page_table(name: str, key: sa.Column[Any]) -> None:
    op.create_table(
        name,
        key,
        sa.Column("page_no", mysql.INTEGER(unsigned=True), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("newest_at", mysql.DATETIME(fsp=6), nullable=False),
        sa.Column("oldest_at", mysql.DATETIME(fsp=6), nullable=False),
        sa.Column("unsorted", sa.Boolean(), nullable=False),
        sa.Column("body", mysql.MEDIUMBLOB(), nullable=False),
        sa.PrimaryKeyConstraint(key.name, "page_no"),
        mysql_charset="utf8mb4",
    )


def upgrade() -> None:
    create_page_table("influencer_history_page", sa.Column("user_id", INSTAGRAM_ID, nullable=False))
    create_page_table("post_history_page", sa.Column("post_code", sa.String(255), nullable=False))


def downgrade() -> None:
    op.drop_table("post_history_page")
    op.drop_table("influencer_history_page")
