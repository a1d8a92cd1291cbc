"""Hourly and daily rollups and duration histograms (analytics/tables.py,
analytics/grains.py), filled from the 1-minute rows already there.

Revision ID: 0007_analytics_coarse
Revises: 0006_runs_keyset
Create Date: 2026-11-30
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007_analytics_coarse"
down_revision = "0006_runs_keyset"
branch_labels = None
depends_on = None

COUNTS = (
    "events",
    "runs_started",
    "runs_completed",
    "runs_failed",
    "runs_cancelled",
    "steps_completed",
    "steps_failed",
)
AMOUNTS = ("step_ms_sum", "run_ms_sum", "cost_usd")
SUMS = (*COUNTS, *AMOUNTS, "tokens", "quality_sum", "quality_count")
GRAINS = (("hourly", "hour"), ("daily", "day"))


def _dimensions(column: str) -> list[sa.Column[Any]]:
    return [
        sa.Column("tenant", sa.String(length=200), primary_key=True),
        sa.Column(column, sa.DateTime(), primary_key=True),
        sa.Column("pattern", sa.String(length=40), primary_key=True),
        sa.Column("agent", sa.String(length=200), primary_key=True),
    ]


def _truncated(column: str) -> str:
    if op.get_bind().dialect.name == "postgresql":
        return f"date_trunc('{column}', minute)"
    shape = "%Y-%m-%d %H:00:00.000000" if column == "hour" else "%Y-%m-%d 00:00:00.000000"
    return f"strftime('{shape}', minute)"


def upgrade() -> None:
    for suffix, column in GRAINS:
        op.create_table(
            f"metric_rollups_{suffix}",
            *_dimensions(column),
            *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS),
            *(sa.Column(name, sa.Float(), nullable=False) for name in AMOUNTS),
            sa.Column("tokens", sa.Integer(), nullable=False),
            sa.Column("quality_sum", sa.Float(), nullable=False),
            sa.Column("quality_count", sa.Integer(), nullable=False),
        )
        op.create_table(
            f"metric_duration_buckets_{suffix}",
            *_dimensions(column),
            sa.Column("kind", sa.String(length=8), primary_key=True),
            sa.Column("bucket", sa.Integer(), primary_key=True),
            sa.Column("count", sa.Integer(), nullable=False),
        )
        period = _truncated(column)
        sums = ", ".join(f"SUM({name})" for name in SUMS)
        op.execute(
            f"INSERT INTO metric_rollups_{suffix} (tenant, {column}, pattern, agent, "
            f"{', '.join(SUMS)}) SELECT tenant, {period}, pattern, agent, {sums} "
            f"FROM metric_rollups GROUP BY tenant, {period}, pattern, agent"
        )
        op.execute(
            f"INSERT INTO metric_duration_buckets_{suffix} (tenant, {column}, pattern, agent, "
            f"kind, bucket, count) SELECT tenant, {period}, pattern, agent, kind, bucket, "
            f"SUM(count) FROM metric_duration_buckets "
            f"GROUP BY tenant, {period}, pattern, agent, kind, bucket"
        )


def downgrade() -> None:
    for suffix, _ in GRAINS:
        op.drop_table(f"metric_duration_buckets_{suffix}")
        op.drop_table(f"metric_rollups_{suffix}")
