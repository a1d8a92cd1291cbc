"""Alerts: escalation policies, regression rules' baseline windows, and how far each
alert escalated (analytics/alerts.py, analytics/alerting.py).

Revision ID: 0004_alerts_escalation
Revises: 0004_analytics_alerts
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_alerts_escalation"
down_revision = "0004_analytics_alerts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alert_rules") as batch:
        batch.add_column(
            sa.Column("baseline_minutes", sa.Integer(), nullable=False, server_default="60")
        )
        batch.add_column(
            sa.Column("baseline_lag_minutes", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("escalation", sa.Text(), nullable=False, server_default="[]"))
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(
            sa.Column("escalation_level", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("escalation_level")
    with op.batch_alter_table("alert_rules") as batch:
        batch.drop_column("escalation")
        batch.drop_column("baseline_lag_minutes")
        batch.drop_column("baseline_minutes")
