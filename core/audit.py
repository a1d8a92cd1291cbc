"""The audit log: every write and every decision made through the API, by whom, in which
tenant, on what, and how it ended (`GET /v1/audit` for admins)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Field, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"

    id: int | None = Field(default=None, primary_key=True)
    time: datetime = Field(default_factory=lambda: datetime.now(UTC), index=True)
    tenant: str = Field(max_length=200, index=True)
    subject: str = Field(max_length=200)
    credential: str = Field(max_length=200)
    action: str = Field(max_length=200, description="e.g. POST /v1/runs/{run_id}/approve")
    target: str = Field(max_length=400, description="The path asked for")
    status: int


class AuditLog:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(self, event: AuditEvent) -> None:
        async with AsyncSession(self._engine) as session:
            session.add(event)
            await session.commit()

    async def recent(self, tenant: str | None, limit: int = 100) -> list[AuditEvent]:
        query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)  # type: ignore[union-attr]
        if tenant is not None:
            query = query.where(AuditEvent.tenant == tenant)
        async with AsyncSession(self._engine) as session:
            return list((await session.exec(query)).all())
