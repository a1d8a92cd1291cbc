"""Content-addressed artifact store in SQL.

Large step outputs live here, referenced by their sha256, so workflow histories stay
small. Writing the same content twice stores it once.
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

    id: str = Field(primary_key=True, max_length=64, description="sha256 of the content")
    size: int
    media_type: str = "text/plain"
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class ArtifactStore:
    def __init__(self, engine: AsyncEngine, inline_limit: int) -> None:
        self._engine = engine
        self.inline_limit = inline_limit

    async def put(self, content: bytes, media_type: str = "text/plain") -> str:
        digest = hashlib.sha256(content).hexdigest()
        async with AsyncSession(self._engine) as session:
            if await session.get(Artifact, digest) is not None:
                return digest
            session.add(
                Artifact(id=digest, size=len(content), media_type=media_type, content=content)
            )
            # Stored concurrently by another worker: same content, same id.
            with contextlib.suppress(IntegrityError):
                await session.commit()
        return digest

    async def get(self, artifact_id: str) -> Artifact | None:
        async with AsyncSession(self._engine) as session:
            return await session.get(Artifact, artifact_id)

    async def to_output(self, text: str, truncated: bool = False, store: bool = False) -> Output:
        """Keep small text inline; store larger text and keep a preview inline. With
        `store` (the jobs of a large fan-out), only a preview's worth stays inline."""
        raw = text.encode()
        if len(raw) <= (PREVIEW_BYTES if store else self.inline_limit):
            return Output(text=text, size=len(raw), truncated=truncated)
        artifact_id = await self.put(raw)
        limit = PREVIEW_BYTES if store else self.inline_limit
        preview = raw[:limit].decode(errors="ignore")
        return Output(text=preview, artifact_id=artifact_id, size=len(raw), truncated=truncated)

    async def read_output(self, output: Output) -> str:
        if output.artifact_id is None:
            return output.text
        artifact = await self.get(output.artifact_id)
        if artifact is None:
            raise LookupError(f"artifact {output.artifact_id} is missing")
        return artifact.content.decode(errors="replace")
