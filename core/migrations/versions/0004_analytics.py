"""Analytics: the runs projection, 1-minute rollups and their duration histograms, the
events already counted, and the aggregators' heartbeats (analytics/tables.py).

Revision ID: 0004_analytics
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004_analytics"
down_revision = "0003"
branch_labels = None
depends_on = None


def _dimensions() -> list[sa.Column[Any]]:
    return [
        sa.Column("tenant", sa.String(length=200), primary_key=True),
        sa.Column("minute", sa.DateTime(), primary_key=True),
        sa.Column("pattern", sa.String(length=40), primary_key=True),
        sa.Column("agent", sa.String(length=200), primary_key=True),
    ]


def upgrade() -> None:
    op.create_table(
        "run_records",
        sa.Column("tenant", sa.String(length=200), primary_key=True),
        sa.Column("run_id", sa.String(length=400), primary_key=True),
        sa.Column("name", sa.String(length=400), nullable=True),
        sa.Column("pattern", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("quality", sa.Float(), nullable=True),
        sa.Column("steps_completed", sa.Integer(), nullable=False),
        sa.Column("steps_failed", sa.Integer(), nullable=False),
        sa.Column("waiting_reason", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("run_records_tenant_started", "run_records", ["tenant", "started_at"])
    op.create_index("run_records_tenant_status", "run_records", ["tenant", "status", "started_at"])
    op.create_index(
        "run_records_tenant_pattern", "run_records", ["tenant", "pattern", "started_at"]
    )
    op.create_table(
        "metric_rollups",
        *_dimensions(),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in (
                "events",
                "runs_started",
                "runs_completed",
                "runs_failed",
                "runs_cancelled",
                "steps_completed",
                "steps_failed",
            )
        ),
        sa.Column("step_ms_sum", sa.Float(), nullable=False),
        sa.Column("run_ms_sum", sa.Float(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("quality_sum", sa.Float(), nullable=False),
        sa.Column("quality_count", sa.Integer(), nullable=False),
    )
    op.create_index("metric_rollups_tenant_minute", "metric_rollups", ["tenant", "minute"])
    op.create_table(
        "metric_duration_buckets",
        *_dimensions(),
        sa.Column("kind", sa.String(length=8), primary_key=True),
        sa.Column("bucket", sa.Integer(), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
    )
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(length=200), primary_key=True),
        sa.Column("time", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_processed_events_time", "processed_events", ["time"])
    op.create_table(
        "aggregator_heartbeats",
        sa.Column("member", sa.String(length=200), primary_key=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("partitions", sa.String(length=2000), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
    )
    _timescale()


def _timescale() -> None:
    """Rollups as a TimescaleDB hypertable when that extension is installed (PostgreSQL)."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    present = bind.execute(
        sa.text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
    ).first()
    if present is not None:
        op.execute(
            "SELECT create_hypertable('metric_rollups', 'minute', migrate_data => true, "
            "if_not_exists => true)"
        )


def downgrade() -> None:
    for table in (
        "aggregator_heartbeats",
        "processed_events",
        "metric_duration_buckets",
        "metric_rollups",
        "run_records",
    ):
        op.drop_table(table)
