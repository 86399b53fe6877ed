"""API keys: a name and the SHA-256 of each key, when it was created, last used and revoked.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def utc_datetime(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, mysql.DATETIME(fsp=6), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "api_key",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("key_hash", sa.CHAR(64), nullable=False),
        utc_datetime("created_at"),
        utc_datetime("last_used_at", nullable=True),
        utc_datetime("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", name=op.f("uq_api_key_name")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_key_key_hash")),
        mysql_charset="utf8mb4",
    )


def downgrade() -> None:
    op.drop_table("api_key")
