"""Code review: stored reports, feedback on their suggestions, and team standards.

Revision ID: 0005_reviews
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_reviews"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_reports",
        sa.Column("id", sa.String(length=40), primary_key=True),
        sa.Column("tenant", sa.String(length=200), nullable=False, index=True),
        sa.Column("team", sa.String(length=200), nullable=False),
        sa.Column("root", sa.Text(), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "review_feedback",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(length=200), nullable=False),
        sa.Column("team", sa.String(length=200), nullable=False),
        sa.Column("review_id", sa.String(length=40), nullable=False),
        sa.Column("suggestion_id", sa.String(length=40), nullable=False),
        sa.Column("rule_id", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_review_feedback_tenant_rule", "review_feedback", ["tenant", "rule_id"])
    op.create_table(
        "review_standards",
        sa.Column("tenant", sa.String(length=200), primary_key=True),
        sa.Column("team", sa.String(length=200), primary_key=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("review_standards")
    op.drop_index("ix_review_feedback_tenant_rule", table_name="review_feedback")
    op.drop_table("review_feedback")
    op.drop_table("review_reports")
