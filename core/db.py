"""SQL storage: a SQLite file by default, PostgreSQL through ACC_DATABASE_URL.

One async engine per process. With ACC_DATABASE_SCHEMA the PostgreSQL tables live in
that schema (tests use one schema each).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import SQLModel

from core.errors import ServiceUnavailable
from core.settings import Settings


def async_url(url: str) -> str:
    """Map a plain database URL to its asyncio driver."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"not a database URL: {url!r}")
    base = scheme.split("+", 1)[0]
    if base == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    if base in {"postgresql", "postgres"}:
        return f"postgresql+asyncpg://{rest}"
    raise ValueError(f"unsupported database {base!r}: use sqlite:// or postgresql://")


def create_engine(settings: Settings) -> AsyncEngine:
    url = async_url(settings.database_url)
    connect_args: dict[str, Any] = {}
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    elif settings.DATABASE_SCHEMA:
        connect_args["server_settings"] = {"search_path": settings.DATABASE_SCHEMA}
    return create_async_engine(url, connect_args=connect_args, pool_pre_ping=True)


async def init_schema(engine: AsyncEngine, schema: str | None = None) -> None:
    """Create acc's tables (and the PostgreSQL schema) if they are missing."""
    import core.artifacts  # noqa: F401  registers the tables on SQLModel.metadata

    try:
        async with engine.begin() as conn:
            if schema and engine.dialect.name == "postgresql":
                await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            await conn.run_sync(SQLModel.metadata.create_all)
    except (SQLAlchemyError, OSError) as exc:
        raise ServiceUnavailable(
            f"database unreachable at {engine.url.render_as_string(hide_password=True)}",
            details={"reason": str(exc)},
        ) from exc


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
