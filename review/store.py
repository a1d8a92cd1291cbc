"""Reviews in SQL: reports (by tenant), feedback on their suggestions, and each team's
standards. Every method takes the tenant first and never reads another tenant's rows."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Literal, cast

from sqlalchemy import Column, Text, func
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Field, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from review.learning import Counts, calibrated
from review.models import Report, Suggestion
from review.rules import rules_by_id
from review.standards import Standards

Action = Literal["accept", "reject", "modify"]


def _now() -> datetime:
    return datetime.now(UTC)


class ReviewRow(SQLModel, table=True):
    __tablename__ = "review_reports"

    id: str = Field(primary_key=True, max_length=40)
    tenant: str = Field(max_length=200, index=True)
    team: str = Field(max_length=200)
    root: str = Field(sa_column=Column(Text, nullable=False))
    report: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=_now)


class FeedbackRow(SQLModel, table=True):
    __tablename__ = "review_feedback"

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(max_length=200)
    team: str = Field(max_length=200)
    review_id: str = Field(max_length=40)
    suggestion_id: str = Field(max_length=40)
    rule_id: str = Field(max_length=200)
    action: str = Field(max_length=20)
    comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    subject: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=_now)


class StandardsRow(SQLModel, table=True):
    __tablename__ = "review_standards"

    tenant: str = Field(primary_key=True, max_length=200)
    team: str = Field(primary_key=True, max_length=200)
    body: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(default_factory=_now)


class ReviewStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def save(self, tenant: str, team: str, report: Report) -> str:
        review_id = uuid.uuid4().hex
        row = ReviewRow(
            id=review_id,
            tenant=tenant,
            team=team,
            root=report.root,
            report=report.model_dump_json(),
        )
        async with AsyncSession(self._engine) as session:
            session.add(row)
            await session.commit()
        return review_id

    async def get(self, tenant: str, review_id: str) -> tuple[str, Report] | None:
        """The review's team and report, or None (also for another tenant's review)."""
        async with AsyncSession(self._engine) as session:
            row = await session.get(ReviewRow, review_id)
        if row is None or row.tenant != tenant:
            return None
        return row.team, Report.model_validate_json(row.report)

    async def recent(self, tenant: str, limit: int) -> list[tuple[ReviewRow, Report]]:
        """The tenant's latest reviews, newest first, with their reports."""
        query = (
            select(ReviewRow)
            .where(ReviewRow.tenant == tenant)
            .order_by(ReviewRow.created_at.desc())  # type: ignore[attr-defined]
            .limit(limit)
        )
        async with AsyncSession(self._engine) as session:
            rows = (await session.exec(query)).all()
        return [(row, Report.model_validate_json(row.report)) for row in rows]

    async def feedback(self, tenant: str, review_id: str) -> dict[str, Action]:
        """The latest feedback on each suggestion of a review."""
        query = (
            select(FeedbackRow)
            .where(FeedbackRow.tenant == tenant, FeedbackRow.review_id == review_id)
            .order_by(FeedbackRow.id)  # type: ignore[arg-type]
        )
        async with AsyncSession(self._engine) as session:
            rows = (await session.exec(query)).all()
        return {row.suggestion_id: cast(Action, row.action) for row in rows}

    async def add_feedback(
        self,
        tenant: str,
        team: str,
        review_id: str,
        suggestion: Suggestion,
        action: Action,
        comment: str | None,
        subject: str,
    ) -> None:
        row = FeedbackRow(
            tenant=tenant,
            team=team,
            review_id=review_id,
            suggestion_id=suggestion.id,
            rule_id=suggestion.rule_id,
            action=action,
            comment=comment,
            subject=subject,
        )
        async with AsyncSession(self._engine) as session:
            session.add(row)
            await session.commit()

    async def counts(self, tenant: str) -> dict[tuple[str, str], Counts]:
        """Feedback counts by (team, rule) for one tenant."""
        query = (
            select(FeedbackRow.team, FeedbackRow.rule_id, FeedbackRow.action, func.count())
            .where(FeedbackRow.tenant == tenant)
            .group_by(FeedbackRow.team, FeedbackRow.rule_id, FeedbackRow.action)
        )
        out: dict[tuple[str, str], Counts] = defaultdict(Counts)
        async with AsyncSession(self._engine) as session:
            rows = (await session.exec(query)).all()
        for team, rule_id, action, n in rows:
            add = Counts(
                accepted=n if action == "accept" else 0,
                rejected=n if action == "reject" else 0,
                modified=n if action == "modify" else 0,
            )
            out[(team, rule_id)] = out[(team, rule_id)] + add
        return dict(out)

    async def calibration(self, tenant: str, team: str) -> dict[str, float]:
        """Each rule's confidence for this team (review/learning.py)."""
        by_team = await self.counts(tenant)
        tenant_totals: dict[str, Counts] = defaultdict(Counts)
        for (_, rule_id), counts in by_team.items():
            tenant_totals[rule_id] = tenant_totals[rule_id] + counts
        out: dict[str, float] = {}
        for rule_id, rule in rules_by_id().items():
            if rule_id in tenant_totals:
                own = by_team.get((team, rule_id), Counts())
                others = tenant_totals[rule_id] - own
                out[rule_id] = calibrated(rule.confidence, others, own)
        return out

    async def standards(self, tenant: str, team: str) -> Standards | None:
        async with AsyncSession(self._engine) as session:
            row = await session.get(StandardsRow, (tenant, team))
        return None if row is None else Standards.model_validate_json(row.body)

    async def put_standards(self, tenant: str, team: str, standards: Standards) -> None:
        async with AsyncSession(self._engine) as session:
            row = await session.get(StandardsRow, (tenant, team))
            if row is None:
                row = StandardsRow(tenant=tenant, team=team, body="")
            row.body = standards.model_dump_json()
            row.updated_at = _now()
            session.add(row)
            await session.commit()
