"""Content-addressed artifact store in SQL.

Large step outputs live here, referenced by their sha256, so workflow histories stay
small. Every artifact belongs to a tenant: another tenant asking for it gets nothing, even
with the right hash. Writing the same content twice (in one tenant) stores it once.
"""

from __future__ import annotations

import contextlib
import hashlib
from datetime import UTC, datetime

from sqlalchemy import Column, LargeBinary
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from core.contracts import Output

PREVIEW_BYTES = 200  # inline preview of an output stored whatever its size


class Artifact(SQLModel, table=True):
    __tablename__ = "artifacts"

    tenant: str = Field(primary_key=True, max_length=200)
    id: str = Field(primary_key=True, max_length=64, description="sha256 of the content")
    size: int
    media_type: str = "text/plain"
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class ArtifactStore:
    def __init__(self, engine: AsyncEngine, inline_limit: int) -> None:
        self._engine = engine
        self.inline_limit = inline_limit

    async def put(self, tenant: str, content: bytes, media_type: str = "text/plain") -> str:
        digest = hashlib.sha256(content).hexdigest()
        async with AsyncSession(self._engine) as session:
            if (existing := await session.get(Artifact, (tenant, digest))) is not None:
                # Stored again: retention counts its age from now (analytics/retention.py).
                existing.created_at = datetime.now(UTC)
                await session.commit()
                return digest
            artifact = Artifact(
                tenant=tenant, id=digest, size=len(content), media_type=media_type, content=content
            )
            session.add(artifact)
            # Stored concurrently by another worker: same content, same id.
            with contextlib.suppress(IntegrityError):
                await session.commit()
        return digest

    async def get(self, tenant: str, artifact_id: str) -> Artifact | None:
        async with AsyncSession(self._engine) as session:
            return await session.get(Artifact, (tenant, artifact_id))

    async def to_output(
        self, tenant: str, text: str, truncated: bool = False, store: bool = False
    ) -> Output:
        """Keep small text inline; store larger text and keep a preview inline. With
        `store` (the jobs of a large fan-out), only a preview's worth stays inline."""
        raw = text.encode()
        if len(raw) <= (PREVIEW_BYTES if store else self.inline_limit):
            return Output(text=text, size=len(raw), truncated=truncated)
        artifact_id = await self.put(tenant, raw)
        limit = PREVIEW_BYTES if store else self.inline_limit
        preview = raw[:limit].decode(errors="ignore")
        return Output(text=preview, artifact_id=artifact_id, size=len(raw), truncated=truncated)

    async def read_output(self, tenant: str, output: Output) -> str:
        if output.artifact_id is None:
            return output.text
        artifact = await self.get(tenant, output.artifact_id)
        if artifact is None:
            raise LookupError(f"artifact {output.artifact_id} is missing")
        return artifact.content.decode(errors="replace")
