"""Webhooks, their outbox of events and deliveries, alert rules and follower milestones.

New tables only: old services neither read nor write them, so no service needs to stop.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = mysql.DATETIME(fsp=6)


def upgrade() -> None:
    op.create_table(
        "webhook",
        sa.Column("id", sa.CHAR(36), primary_key=True),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("description", sa.String(255)),
        sa.Column("event_types", sa.JSON()),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("disabled_reason", sa.String(255)),
        sa.Column("disabled_at", TIME),
        sa.Column("created_at", TIME, nullable=False),
    )
    op.create_table(
        "webhook_event",
        sa.Column("id", sa.CHAR(36), primary_key=True),
        sa.Column("event_type", sa.String(50), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
    )
    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column(
            "event_id",
            sa.CHAR(36),
            sa.ForeignKey("webhook_event.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "webhook_id",
            sa.CHAR(36),
            sa.ForeignKey("webhook.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum("pending", "succeeded", "retrying", "failed", name="delivery_status"),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TIME),
        sa.Column("response_status", sa.Integer()),
        sa.Column("last_error", sa.Text()),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_index(None, "webhook_delivery", ["status", "next_attempt_at"])
    op.create_index(None, "webhook_delivery", ["webhook_id", "id"])
    op.create_table(
        "webhook_attempt",
        sa.Column(
            "delivery_id",
            sa.BigInteger(),
            sa.ForeignKey("webhook_delivery.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("attempt", sa.Integer(), primary_key=True),
        sa.Column(
            "outcome",
            sa.Enum("sending", "succeeded", "failed", "interrupted", name="attempt_outcome"),
            nullable=False,
        ),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("duration_ms", sa.Integer()),
        sa.Column("response_status", sa.Integer()),
        sa.Column("error", sa.Text()),
    )
    op.create_table(
        "alert",
        sa.Column("id", sa.CHAR(36), primary_key=True),
        sa.Column(
            "task_id", sa.CHAR(36), sa.ForeignKey("task.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column(
            "condition",
            sa.Enum(
                "above",
                "below",
                "change_above",
                "change_below",
                "change_pct_above",
                "change_pct_below",
                name="alert_condition",
            ),
            nullable=False,
        ),
        sa.Column("threshold", sa.Double(), nullable=False),
        sa.Column("window", sa.String(8)),
        sa.Column("cooldown_seconds", sa.Integer(), nullable=False),
        sa.Column("state", sa.Enum("ok", "triggered", name="alert_state"), nullable=False),
        sa.Column("last_value", sa.Double()),
        sa.Column("last_evaluated_at", TIME),
        sa.Column("last_triggered_at", TIME),
        sa.Column("last_resolved_at", TIME),
        sa.Column("created_at", TIME, nullable=False),
    )
    op.create_index(None, "alert", ["task_id", "id"])
    op.create_table(
        "influencer_milestone",
        sa.Column(
            "task_id", sa.CHAR(36), sa.ForeignKey("task.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("milestone", sa.BigInteger(), nullable=False),
        sa.Column("reached_at", TIME, nullable=False),
    )


def downgrade() -> None:
    for name in (
        "influencer_milestone",
        "alert",
        "webhook_attempt",
        "webhook_delivery",
        "webhook_event",
        "webhook",
    ):
        op.drop_table(name)
