"""acc's real workers in this process, built as `acc worker` builds them (the schema
migrated, the bus started, Redis, one Temporal worker per task queue), for the tests and
the benchmarks that run workflows in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from temporalio.client import Client

from core import db
from core import redis as redis_client
from core.bus import EventBus
from core.settings import Settings, load_settings
from workers.main import build_workers


@asynccontextmanager
async def running_workers(
    client: Client, settings: Settings, **worker_options: Any
) -> AsyncIterator[EventBus]:
    async with AsyncExitStack() as stack:
        engine = db.create_engine(settings)
        stack.push_async_callback(engine.dispose)
        await db.migrate(engine, settings.DATABASE_SCHEMA)
        bus = EventBus.from_settings(
            settings, also_keep=[settings.SIGNALS_TOPIC, settings.DEAD_LETTER_TOPIC]
        )
        await bus.start()
        stack.push_async_callback(bus.stop)
        redis = redis_client.connect(settings)
        stack.push_async_callback(redis.aclose)
        for worker in build_workers(client, settings, bus, engine, redis, **worker_options):
            await stack.enter_async_context(worker)
        yield bus


def local_settings(tmp: Path, bootstrap: str, redis_url: str, **overrides: Any) -> Settings:
    """Settings for servers started in this process (tests/support/servers.py): a SQLite
    file in `tmp`, one task queue (activities start eagerly), the given broker and Redis."""
    values: dict[str, Any] = {
        "DATA_DIR": tmp / ".acc",
        "DATABASE_URL": f"sqlite:///{tmp / 'acc.db'}",
        "DATABASE_SCHEMA": None,
        "AGENTS_QUEUE": None,
        "KAFKA_BOOTSTRAP": bootstrap,
        "REDIS_URL": redis_url,
        **overrides,
    }
    return load_settings(**values)
