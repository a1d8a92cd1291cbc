"""Disaster recovery of what acc owns in SQL (deploy/backup/acc-db.sh): a backup taken, the
data lost, the backup restored, and the keys and artifacts work again; a file that is not a
backup is refused and changes nothing. Against PostgreSQL (pg_dump) when CI provides it,
else SQLite."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text

from core import db
from core.artifacts import ArtifactStore
from core.auth import ApiKeys, Unauthorized
from core.settings import load_settings
from tests.support.chart import ROOT

pytestmark = pytest.mark.integration

SCRIPT = ROOT / "deploy" / "backup" / "acc-db.sh"


def _run(
    action: str, file: Path, database: dict[str, str | None]
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACC_")}
    env["ACC_DATABASE_URL"] = database["DATABASE_URL"] or ""
    if database["DATABASE_SCHEMA"]:
        env["ACC_DATABASE_SCHEMA"] = database["DATABASE_SCHEMA"]
    return subprocess.run(
        ["bash", str(SCRIPT), action, str(file)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def _lose_everything(database: dict[str, str | None]) -> None:
    settings = load_settings(**database)
    path = db.sqlite_path(settings.database_url)
    if path is not None:
        path.unlink()
        return
    engine = db.create_engine(settings)
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{database["DATABASE_SCHEMA"]}" CASCADE'))
    await engine.dispose()


async def test_a_restored_backup_brings_back_keys_and_artifacts(
    tmp_path: Path, database: dict[str, str | None]
) -> None:
    settings = load_settings(DATA_DIR=tmp_path / ".acc", **database)
    engine = db.create_engine(settings)
    await db.migrate(engine, settings.DATABASE_SCHEMA)
    _, token = await ApiKeys(engine).create("ops", "acme", ["admin"])
    artifact = await ArtifactStore(engine, 10).put("acme", b"x" * 5000)
    await engine.dispose()

    backup = tmp_path / "acc.backup"
    made = _run("backup", backup, database)
    assert made.returncode == 0, made.stderr
    assert backup.stat().st_size > 0

    await _lose_everything(database)
    garbage = tmp_path / "garbage.backup"
    garbage.write_bytes(b"not a backup")
    refused = _run("restore", garbage, database)
    assert refused.returncode == 1
    assert "nothing was changed" in refused.stderr

    restored = _run("restore", backup, database)
    assert restored.returncode == 0, restored.stderr
    engine = db.create_engine(settings)
    try:
        principal = await ApiKeys(engine).verify(token)
        assert principal.tenant == "acme"
        stored = await ArtifactStore(engine, 10).get("acme", artifact)
        assert stored is not None and stored.content == b"x" * 5000
        assert await ArtifactStore(engine, 10).get("other", artifact) is None
        await db.migrate(engine, settings.DATABASE_SCHEMA)  # the schema is current: no-op
    finally:
        await engine.dispose()

    # restoring on top of live data replaces it with the backup's
    engine = db.create_engine(settings)
    _, later = await ApiKeys(engine).create("later", "acme", ["runs:read"])
    await engine.dispose()
    again = _run("restore", backup, database)
    assert again.returncode == 0, again.stderr
    engine = db.create_engine(settings)
    try:
        await ApiKeys(engine).verify(token)
        with pytest.raises(Unauthorized):
            await ApiKeys(engine).verify(later)
    finally:
        await engine.dispose()


def test_without_a_database_url_it_says_what_to_set(tmp_path: Path) -> None:
    done = _run("backup", tmp_path / "x", {"DATABASE_URL": None, "DATABASE_SCHEMA": None})
    assert done.returncode == 2
    assert "ACC_DATABASE_URL is not set" in done.stderr
