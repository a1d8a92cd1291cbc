"""The artifact store on the test's own database (PostgreSQL schema or SQLite file), and the
Redis the stack uses."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cli.probes import database_probe, redis_probe
from core import db
from core.artifacts import ArtifactStore
from core.settings import Settings

pytestmark = pytest.mark.integration


async def test_artifacts_are_content_addressed_and_stored_once(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    engine = db.create_engine(settings)
    await db.migrate(engine, settings.DATABASE_SCHEMA)
    await db.migrate(engine, settings.DATABASE_SCHEMA)  # idempotent
    store = ArtifactStore(engine, inline_limit=10)
    try:
        first = await store.put("t1", b"same bytes")
        second = await store.put("t1", b"same bytes")
        artifact = await store.get("t1", first)
        elsewhere = await store.get("t2", first)  # another tenant: not there, hash or not
        small = await store.to_output("t1", "tiny")
        large = await store.to_output("t1", "0123456789abcdef")
        assert await store.read_output("t1", large) == "0123456789abcdef"
        with pytest.raises(LookupError):
            await store.read_output("t2", large)
    finally:
        await engine.dispose()
    assert first == second and len(first) == 64
    assert artifact is not None and artifact.content == b"same bytes" and artifact.size == 10
    assert elsewhere is None
    assert small.artifact_id is None and small.text == "tiny"
    assert large.artifact_id is not None and large.text == "0123456789" and large.size == 16


async def test_probes_see_the_test_redis_and_database(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    assert await redis_probe(settings) is None
    engine = db.create_engine(settings)  # a probe creates nothing: the database must exist
    await db.migrate(engine, settings.DATABASE_SCHEMA)
    await engine.dispose()
    assert await database_probe(settings) is None
    down = make_settings(REDIS_URL="redis://127.0.0.1:1/0")
    assert "unreachable at redis://127.0.0.1:1/0" in (await redis_probe(down) or "")
