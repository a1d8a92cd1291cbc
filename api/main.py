"""The API application: routers, error handlers, and the dashboard's static files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from redis.asyncio import Redis

from api import errors
from api.deps import Services
from api.routes import agents, artifacts, health, history, metrics, runs, schema
from core import db
from core.agents_config import load_agents
from core.artifacts import ArtifactStore
from core.bus import EventBus
from core.settings import Settings, load_settings

WEB_DIR = Path(__file__).resolve().parent.parent / "web"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.agents = load_agents(settings.AGENTS_FILE)
        app.state.redis = Redis.from_url(settings.redis_url)
        engine = db.create_engine(settings)
        await db.init_schema(engine, settings.DATABASE_SCHEMA)
        bus = EventBus.from_settings(settings)
        await bus.start_or_degrade()
        app.state.services = Services(
            settings, engine, ArtifactStore(engine, settings.INLINE_OUTPUT_LIMIT), bus
        )
        yield
        await app.state.redis.aclose()
        await bus.stop()
        await engine.dispose()

    app = FastAPI(
        title="acc",
        summary="Durable orchestration for coding agents",
        version="0.1.0",
        lifespan=lifespan,
    )
    errors.install(app)
    app.include_router(health.router)
    app.include_router(runs.router)
    app.include_router(history.router)
    app.include_router(artifacts.router)
    app.include_router(schema.router)
    app.include_router(agents.router)
    app.include_router(metrics.router)
    site = WEB_DIR / "dist" if (WEB_DIR / "dist").is_dir() else WEB_DIR / "public"
    app.mount("/", StaticFiles(directory=site, html=True, check_dir=False), name="dashboard")
    return app
