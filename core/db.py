"""SQL storage: a SQLite file by default, PostgreSQL through ACC_DATABASE_URL.

One async engine per process. With ACC_DATABASE_SCHEMA the PostgreSQL tables live in
that schema (tests use one schema each).
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, event, text
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from core.errors import ServiceUnavailable
from core.settings import Settings
from core.transport import database_ssl


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


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases or an in-memory one)."""
    scheme, _, rest = url.partition("://")
    if scheme.split("+", 1)[0] != "sqlite" or rest in ("", "/", "/:memory:"):
        return None
    return Path(rest.removeprefix("/"))


def connect_args(settings: Settings) -> dict[str, Any]:
    """What asyncpg's connect() gets besides the URL: the schema and the TLS context."""
    args: dict[str, Any] = {}
    if not settings.database_url.startswith("sqlite"):
        if settings.DATABASE_SCHEMA:
            args["server_settings"] = {"search_path": settings.DATABASE_SCHEMA}
        if (tls := database_ssl(settings)) is not None:
            args["ssl"] = tls
    return args


def create_engine(settings: Settings) -> AsyncEngine:
    url = async_url(settings.database_url)
    sqlite = url.startswith("sqlite")
    if sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    # A pooled connection to a server may have been dropped: ping it first. A SQLite file
    # cannot drop, so its connections skip that round trip. Connections past the pool are
    # opened for a burst and closed after it: a server process each, which costs more than
    # a query, so the pool is sized for the usual concurrency (ACC_DATABASE_POOL_SIZE).
    pool = (
        {}
        if sqlite
        else {
            "pool_size": settings.DATABASE_POOL_SIZE,
            "max_overflow": settings.DATABASE_POOL_OVERFLOW,
        }
    )
    engine = create_async_engine(
        url, connect_args=connect_args(settings), pool_pre_ping=not sqlite, **pool
    )
    if sqlite:
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection: Any, _: Any) -> None:
    """WAL: readers never wait for the writer, and with synchronous=NORMAL a commit does not
    wait for the disk: what a committed transaction wrote survives any process being
    killed (only a power cut can take the last ones back). A busy timeout lets the
    processes of one machine (API, workers) write the same file in turn."""
    cursor = connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any constant: the PostgreSQL advisory lock every acc process takes to migrate.
MIGRATION_LOCK = 0x616363  # "acc"


async def migrate(engine: AsyncEngine, schema: str | None = None) -> None:
    """Bring acc's tables up to date (Alembic, `core/migrations`). Safe when many processes
    start at once: one migrates while the others wait on a lock (a PostgreSQL advisory lock,
    or a file lock beside the SQLite file), then find nothing left to do. A database that
    cannot be reached is ServiceUnavailable; any other database error is raised as itself."""
    postgres = engine.dialect.name == "postgresql"
    with _file_lock(engine) if not postgres else contextlib.nullcontext():
        try:
            async with engine.begin() as conn:
                if postgres:
                    await conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
                    )
                    if schema:
                        await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
                await conn.run_sync(_upgrade, schema)
        except (OSError, InterfaceError, ConnectionRefusedError) as exc:
            raise _unreachable(engine, exc) from exc
        except OperationalError as exc:
            if not _is_connection_error(exc):
                raise
            raise _unreachable(engine, exc) from exc


def _upgrade(connection: Connection, schema: str | None) -> None:
    from alembic import command  # imported when migrating only: ~75 ms every process saves
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes.update(connection=connection, schema=schema)
    command.upgrade(config, "heads")  # one head per feature's migrations


@contextlib.contextmanager
def _file_lock(engine: AsyncEngine) -> Iterator[None]:
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # held briefly: a migration takes milliseconds
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _is_connection_error(exc: OperationalError) -> bool:
    text_ = str(exc.orig).lower()
    return any(
        marker in text_
        for marker in ("unable to open database", "could not connect", "connection refused")
    )


def _unreachable(engine: AsyncEngine, exc: BaseException) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"database unreachable at {engine.url.render_as_string(hide_password=True)}",
        details={"reason": str(exc)},
    )


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
