"""Task tags: the labels a client groups tasks by, one row per task and tag.

A table rather than a JSON column: finding every task with a tag is an index range on
(tag, task_id), and a task's own tags are a range of the primary key. A new table only: old
services never read it, so no service needs to stop.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "task_tag",
        sa.Column("task_id", sa.CHAR(36), nullable=False),
        sa.Column("tag", sa.String(50), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["task.id"], name="fk_task_tag_task_id_task", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_id", "tag"),
        mysql_charset="utf8mb4",
    )
    # InnoDB appends the primary key to the index: (tag, task_id), the tag filter's range.
    op.create_index("ix_task_tag_tag", "task_tag", ["tag"])


def downgrade() -> None:
    op.drop_table("task_tag")
