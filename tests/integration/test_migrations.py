"""Schema migrations on the real database: many processes starting at once on a fresh
database all succeed (one migrates, the others wait and find nothing to do), a database
that init_schema made before migrations existed is adopted, and errors say what they are."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable

import pytest
from sqlalchemy import inspect, text

from core import db
from core.errors import ServiceUnavailable
from core.settings import Settings, load_settings

pytestmark = pytest.mark.integration

MIGRATE = """
import asyncio, sys
from core import db
from core.settings import load_settings
async def main():
    engine = db.create_engine(load_settings())
    await db.migrate(engine, load_settings().DATABASE_SCHEMA)
    await engine.dispose()
asyncio.run(main())
"""


async def tables(settings: Settings) -> set[str]:
    engine = db.create_engine(settings)
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    await engine.dispose()
    return names


async def test_fifteen_processes_migrating_a_fresh_database_at_once_all_succeed(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    env = {f"ACC_{k}": str(v) for k, v in settings.model_dump().items() if v is not None}
    env = {
        k: v
        for k, v in env.items()
        if k in ("ACC_DATABASE_URL", "ACC_DATABASE_SCHEMA", "ACC_DATA_DIR")
    }
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            MIGRATE,
            env={**env, "PATH": "/usr/bin:/bin"},
            stderr=subprocess.PIPE,
        )
        for _ in range(15)
    ]
    results = await asyncio.gather(*(p.communicate() for p in procs))
    failed = [err.decode() for p, (_, err) in zip(procs, results, strict=True) if p.returncode]
    assert failed == []
    assert {"artifacts", "alembic_version"} <= await tables(settings)


async def test_a_database_made_before_migrations_is_adopted(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    engine = db.create_engine(settings)
    async with engine.begin() as conn:
        if settings.DATABASE_SCHEMA:
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{settings.DATABASE_SCHEMA}"'))
        # What init_schema created before there were migrations.
        await conn.execute(
            text(
                "CREATE TABLE artifacts (id VARCHAR(64) PRIMARY KEY, size INT NOT NULL, "
                "media_type VARCHAR NOT NULL, content BYTEA NOT NULL, created_at TIMESTAMP "
                "NOT NULL)".replace("BYTEA", "BLOB" if engine.dialect.name == "sqlite" else "BYTEA")
            )
        )
    await db.migrate(engine, settings.DATABASE_SCHEMA)
    await db.migrate(engine, settings.DATABASE_SCHEMA)  # and again: nothing to do
    await engine.dispose()
    assert "alembic_version" in await tables(settings)


async def test_an_unreachable_database_is_service_unavailable() -> None:
    settings = load_settings(DATABASE_URL="postgresql://nobody@127.0.0.1:9/none")
    engine = db.create_engine(settings)
    with pytest.raises(ServiceUnavailable, match="database unreachable at postgresql"):
        await db.migrate(engine)
    await engine.dispose()
