"""Post details: who posted a post, when, what kind of post it is and its caption, stored on
its task when the collector first reads them.

Nullable columns only: old services neither read nor write them, so no service needs to stop.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-09
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("owner_username", "published_at", "media_type", "caption")


def upgrade() -> None:
    op.add_column("task", sa.Column("owner_username", sa.String(255)))
    op.add_column("task", sa.Column("published_at", mysql.DATETIME(fsp=6)))
    op.add_column(
        "task", sa.Column("media_type", sa.Enum("image", "video", "carousel", name="media_type"))
    )
    op.add_column("task", sa.Column("caption", sa.Text()))


def downgrade() -> None:
    for name in reversed(COLUMNS):
        op.drop_column("task", name)
