"""Real-service fixtures: a local Temporal server, the time-skipping server, a Tansu broker,
Redis and SQL. Nothing here is mocked.

Redis and SQL: when ACC_REDIS_URL / ACC_DATABASE_URL are set (CI points them at the
machine's services) the tests use those; otherwise they start an embedded redis-server
and use a SQLite file. Every test gets its own task queues, topic, key prefix, data dir
and database schema, so tests never see each other's state.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
import hypothesis  # noqa: F401  (see below)
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from core import db
from core.bus import EventBus
from core.settings import Settings, load_settings
from tests.support import servers, workers

# hypothesis is imported above on purpose: imported late by its plugin's terminal summary,
# its modules hit CPython 3.11.7's "AST constructor recursion depth mismatch" error.

ENV = load_settings()  # what the machine offers: ACC_REDIS_URL, ACC_DATABASE_URL


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await servers.temporal_dev_server(ENV)
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(ENV.bin_dir / "temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Tansu broker (Kafka wire protocol) on a free port."""
    with servers.tansu(tmp_path_factory.mktemp("tansu") / "tansu.log") as bootstrap:
        yield bootstrap


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The machine's Redis when ACC_REDIS_URL is set, else an embedded redis-server."""
    if ENV.REDIS_URL:
        yield ENV.REDIS_URL
        return
    with servers.redis_server(tmp_path_factory.mktemp("redis"), ENV) as url:
        yield url


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[dict[str, str | None]]:
    """Settings for a private database: a fresh PostgreSQL schema, or a SQLite file."""
    if not ENV.DATABASE_URL:
        yield {"DATABASE_URL": f"sqlite:///{tmp_path / 'acc.db'}", "DATABASE_SCHEMA": None}
        return
    schema = f"acc_test_{uuid.uuid4().hex[:12]}"
    yield {"DATABASE_URL": ENV.DATABASE_URL, "DATABASE_SCHEMA": schema}
    engine = create_async_engine(db.async_url(ENV.DATABASE_URL))
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await engine.dispose()


@pytest.fixture
def make_settings(
    tmp_path: Path,
    kafka_bootstrap: str,
    redis_url: str,
    database: dict[str, str | None],
) -> Callable[..., Settings]:
    """Settings private to one test: its own queues, topic, data dir and schema."""
    suffix = uuid.uuid4().hex[:8]

    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "DATA_DIR": tmp_path / ".acc",
            "ORCHESTRATION_QUEUE": f"orch-{suffix}",
            "AGENTS_QUEUE": f"agents-{suffix}",
            "EVENTS_TOPIC": f"events-{suffix}",
            "KAFKA_BOOTSTRAP": kafka_bootstrap,
            "REDIS_URL": redis_url,
            "REDIS_PREFIX": f"test-{suffix}:",
            # The stand-ins that record notifications listen on loopback.
            "ALERT_INTERNAL_HOSTS": ("127.0.0.1",),
            **database,
            **overrides,
        }
        return load_settings(**values)

    return make


def running_workers(client: Client, settings: Settings) -> AbstractAsyncContextManager[EventBus]:
    """The real worker stack for one test; a workflow bug fails the run at once instead of
    retrying its task for ever."""
    return workers.running_workers(client, settings, workflow_failure_exception_types=[Exception])


@asynccontextmanager
async def api_client(
    settings: Settings, scopes: tuple[str, ...] = ("admin",), tenant: str | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The real API app, in-process, with its lifespan (database, bus) run, and a client
    holding a key of `tenant` (the settings' by default) with `scopes`."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        _, token = await app.state.authenticator.keys.create(
            "test", tenant or settings.TENANT, list(scopes)
        )
        transport = httpx.ASGITransport(app=app)
        headers = {"X-API-Key": token}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://localhost", headers=headers
        ) as http:
            yield http
