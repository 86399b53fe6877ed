"""Rows are the record: the history pages go, history rows are clustered by task and time, and
post codes compare case-sensitively.

Every statement here works while old and new services run: no service needs to stop first.
Instagram shortcodes are case-sensitive, so `post_code` takes a binary collation in `task` and
`post_metrics_history`; the values stored are kept as they are. Clustering each history table
on (task_id, recorded_at, id) keeps one target's points next to each other on disk, so a read
of its newest points is one range of the primary key.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HISTORY_TABLES = ("influencer_metrics_history", "post_metrics_history")


def upgrade() -> None:
    op.drop_table("post_history_page")
    op.drop_table("influencer_history_page")
    op.execute(
        "ALTER TABLE task MODIFY post_code VARCHAR(255) "
        "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL"
    )
    op.execute(
        "ALTER TABLE post_metrics_history MODIFY post_code VARCHAR(255) "
        "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL"
    )
    for table in HISTORY_TABLES:
        # The AUTO_INCREMENT id keeps an index of its own once it leaves the primary key.
        op.execute(
            f"ALTER TABLE {table} DROP PRIMARY KEY, "
            f"ADD PRIMARY KEY (task_id, recorded_at, id), ADD INDEX ix_{table}_id (id)"
        )


def downgrade() -> None:
    for table in HISTORY_TABLES:
        op.execute(
            f"ALTER TABLE {table} DROP PRIMARY KEY, ADD PRIMARY KEY (id), DROP INDEX ix_{table}_id"
        )
    # Fails when two posts differ only in letter case: the old collation cannot hold both.
    op.execute(
        "ALTER TABLE post_metrics_history MODIFY post_code VARCHAR(255) "
        "CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL"
    )
    op.execute(
        "ALTER TABLE task MODIFY post_code VARCHAR(255) "
        "CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NULL"
    )
    # Empty: the pages are not rebuilt (0003 no longer fills them).
    op.execute(
        "CREATE TABLE influencer_history_page (user_id BIGINT UNSIGNED NOT NULL, "
        "page_no INTEGER UNSIGNED NOT NULL, points INTEGER NOT NULL, "
        "newest_at DATETIME(6) NOT NULL, oldest_at DATETIME(6) NOT NULL, "
        "unsorted BOOL NOT NULL, body MEDIUMBLOB NOT NULL, PRIMARY KEY (user_id, page_no)) "
        "CHARACTER SET utf8mb4"
    )
    op.execute(
        "CREATE TABLE post_history_page (post_code VARCHAR(255) NOT NULL, "
        "page_no INTEGER UNSIGNED NOT NULL, points INTEGER NOT NULL, "
        "newest_at DATETIME(6) NOT NULL, oldest_at DATETIME(6) NOT NULL, "
        "unsorted BOOL NOT NULL, body MEDIUMBLOB NOT NULL, PRIMARY KEY (post_code, page_no)) "
        "CHARACTER SET utf8mb4"
    )
