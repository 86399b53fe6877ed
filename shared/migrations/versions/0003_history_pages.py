"""History pages: each target's history pre-rendered as the API's JSON, about 100 points a row,
filled from the history already stored.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from shared.repositories.history_pages import (
    HEAD_PAGE,
    INFLUENCER_PAGES,
    PAGE_POINTS,
    POST_PAGES,
    PageKind,
    page_values,
)

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTAGRAM_ID = sa.BigInteger().with_variant(mysql.BIGINT(unsigned=True), "mysql", "mariadb")
# Pages written per INSERT while filling them.
FILL_BATCH = 500


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
    fill(INFLUENCER_PAGES, "influencer_metrics_history", "influencer_history_page")
    fill(POST_PAGES, "post_metrics_history", "post_history_page")


def downgrade() -> None:
    op.drop_table("post_history_page")
    op.drop_table("influencer_history_page")


def fill(kind: PageKind, history_name: str, pages_name: str) -> None:
    """Page every target's stored history, oldest first, as the writers would have."""
    connection = op.get_bind()
    page_columns = (kind.key, "page_no", "points", "newest_at", "oldest_at", "unsorted", "body")
    pages = sa.table(pages_name, *map(sa.column, page_columns))
    history = sa.table(history_name, *map(sa.column, (kind.key, *kind.fields, "id")))
    key = history.c[kind.key]
    targets = connection.execute(sa.select(key).distinct().where(key.is_not(None))).scalars()
    points_of = (
        sa.select(*(history.c[field] for field in kind.fields))
        .where(key == sa.bindparam("key"))
        .order_by(history.c.recorded_at, history.c.id)
    )
    batch: list[dict[str, Any]] = []
    # Target by target: one target's rows at a time in memory.
    for target in list(targets):
        points = connection.execute(points_of, {"key": target}).mappings().all()
        batch.extend(target_pages(kind, target, points))
        if len(batch) >= FILL_BATCH:
            connection.execute(pages.insert(), batch)
            batch = []
    if batch:
        connection.execute(pages.insert(), batch)


def target_pages(
    kind: PageKind, key: object, oldest_first: Sequence[Any]
) -> Iterator[dict[str, Any]]:
    """Sealed pages of PAGE_POINTS, then the head with the newest (1 to PAGE_POINTS) points."""
    chunks = [oldest_first[i : i + PAGE_POINTS] for i in range(0, len(oldest_first), PAGE_POINTS)]
    for number, chunk in enumerate(chunks, start=1):
        yield page_values(kind, key, HEAD_PAGE if number == len(chunks) else number, chunk)
