"""Runs list pages: an index in the list's own order (newest start first, runs without a
start last, ties by id), so a keyset page of `GET /v1/runs` reads its rows from the index
instead of sorting the tenant's runs (analytics/projection.py).

Revision ID: 0006_runs_keyset
Revises: 0004_analytics
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_runs_keyset"
down_revision = "0004_analytics"
branch_labels = None
depends_on = None

NAME = "run_records_tenant_keyset"


def upgrade() -> None:
    started: sa.UnaryExpression[object] = sa.column("started_at").desc()
    # SQLite sorts NULL first, so last when descending; PostgreSQL needs it said.
    if op.get_bind().dialect.name == "postgresql":
        started = started.nulls_last()
    op.create_index(NAME, "run_records", ["tenant", started, "run_id"])


def downgrade() -> None:
    op.drop_index(NAME, table_name="run_records")
