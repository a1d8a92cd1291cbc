"""Step receipts: what an agent step produced, written to SQL before its activity reports.

When a worker dies after a step's command finished but before Temporal heard of it, the
next attempt (on any worker: the receipt is in the shared database, not on the dead
worker's disk) finds the receipt and reports it instead of running the command again.
One row per step of a run, overwritten by each attempt that finishes. Writes that arrive
together (a wide fan-out finishes many steps at once) are committed together: one
transaction for all of them, each writer waiting for the commit that holds its receipt.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Column, Text, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from core.contracts import AgentResult


class Receipt(SQLModel, table=True):
    __tablename__ = "receipts"

    run_id: str = Field(primary_key=True, max_length=200)
    step_index: int = Field(primary_key=True)
    attempt: int = Field(description="The activity attempt that finished the step")
    result: str = Field(sa_column=Column(Text, nullable=False), description="AgentResult JSON")
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class Recorded(BaseModel):
    """A receipt as the activity reads it back."""

    attempt: int
    result: AgentResult
    error: str | None


class ReceiptStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        dialect = engine.dialect.name
        self._insert = pg_insert if dialect == "postgresql" else sqlite_insert
        self._waiting: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def put(
        self, run_id: str, step_index: int, attempt: int, result: AgentResult, error: str | None
    ) -> None:
        """Return once the receipt is committed."""
        values = {
            "run_id": run_id,
            "step_index": step_index,
            "attempt": attempt,
            "result": result.model_dump_json(),
            "error": error,
            "created_at": datetime.now(UTC),
        }
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((values, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write())
        await done

    async def _write(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            rows = list({(v["run_id"], v["step_index"]): v for v, _ in batch}.values())
            try:
                await self._commit(rows)
            except Exception as exc:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)

    async def _commit(self, rows: list[dict[str, Any]]) -> None:
        statement = self._insert(Receipt).values(rows)
        statement = statement.on_conflict_do_update(
            index_elements=["run_id", "step_index"],
            set_={k: statement.excluded[k] for k in ("attempt", "result", "error", "created_at")},
        )
        async with self._engine.begin() as conn:
            if self._engine.dialect.name == "postgresql":
                # Receipts guard against a lost worker, not a lost database server: the
                # commit need not wait for PostgreSQL's disk (it still survives the worker).
                await conn.execute(text("SET LOCAL synchronous_commit TO OFF"))
            await conn.execute(statement)

    async def get(self, run_id: str, step_index: int) -> Recorded | None:
        async with AsyncSession(self._engine) as session:
            row = await session.get(Receipt, (run_id, step_index))
        if row is None:
            return None
        return Recorded(
            attempt=row.attempt, result=AgentResult.model_validate_json(row.result), error=row.error
        )
