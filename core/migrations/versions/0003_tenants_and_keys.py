"""Tenants and credentials: artifacts belong to a tenant (its key is tenant + sha256), API
keys, and the audit log of every write.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Artifacts keyed by (tenant, sha256): a new table, the old rows the default tenant's.
    op.create_table(
        "tenant_artifacts",
        sa.Column("tenant", sa.String(length=200), primary_key=True),
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.execute(
        "INSERT INTO tenant_artifacts (tenant, id, size, media_type, content, created_at) "
        "SELECT 'default', id, size, media_type, content, created_at FROM artifacts"
    )
    op.drop_table("artifacts")
    op.rename_table("tenant_artifacts", "artifacts")
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=16), primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("tenant", sa.String(length=200), nullable=False, index=True),
        sa.Column("scopes", sa.String(), nullable=False),
        sa.Column("groups", sa.String(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("time", sa.DateTime(), nullable=False, index=True),
        sa.Column("tenant", sa.String(length=200), nullable=False, index=True),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("credential", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=200), nullable=False),
        sa.Column("target", sa.String(length=400), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_events")
    op.drop_table("api_keys")
