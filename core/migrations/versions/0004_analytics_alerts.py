"""Alerts: rules a tenant sets on its metrics, and the alerts they raised
(analytics/alerts.py).

Revision ID: 0004_analytics_alerts
Revises: 0004_analytics
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_analytics_alerts"
down_revision = "0004_analytics"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("tenant", sa.String(length=200), nullable=False, index=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("metric", sa.String(length=40), nullable=False),
        sa.Column("op", sa.String(length=2), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("window_minutes", sa.Integer(), nullable=False),
        sa.Column("pattern", sa.String(length=40), nullable=True),
        sa.Column("agent", sa.String(length=200), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("tenant", sa.String(length=200), nullable=False, index=True),
        sa.Column("rule_id", sa.String(length=32), nullable=False, index=True),
        sa.Column("rule_name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=True),
        sa.Column("notified", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_table("alert_rules")
