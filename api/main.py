"""The API application: its clients, routers, error handlers, and the dashboard's files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from agents.config import load_agents
from agents.runtime import LiveRouter
from api import errors
from api.middleware import RequestGuard
from api.routes import router
from api.services.control import Cancellations
from core import db, temporal
from core import redis as redis_client
from core.artifacts import ArtifactStore
from core.bus import EventBus
from core.settings import Settings, load_settings

WEB_DIR = Path(__file__).resolve().parent.parent / "web"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = app.state
        state.settings = settings
        state.temporal = await temporal.connect(settings, lazy=True)
        state.redis = redis_client.connect(settings)
        state.router = LiveRouter(settings, state.redis, load_agents(settings.AGENTS_FILE))
        state.engine = db.create_engine(settings)
        await db.migrate(state.engine, settings.DATABASE_SCHEMA)
        state.artifacts = ArtifactStore(state.engine, settings.INLINE_OUTPUT_LIMIT)
        state.bus = EventBus.from_settings(settings)
        await state.bus.start_or_degrade()
        state.cancellations = Cancellations(settings.CANCEL_GRACE_SECONDS)
        yield
        await state.cancellations.close()
        await state.redis.aclose()
        await state.bus.stop()
        await state.engine.dispose()

    app = FastAPI(
        title="acc",
        summary="Durable orchestration for coding agents",
        version="0.1.0",
        lifespan=lifespan,
    )
    errors.install(app)
    app.add_middleware(RequestGuard, max_body_bytes=settings.API_MAX_BODY_BYTES)
    app.include_router(router)
    site = WEB_DIR / "dist" if (WEB_DIR / "dist").is_dir() else WEB_DIR / "public"
    app.mount("/", StaticFiles(directory=site, html=True, check_dir=False), name="dashboard")
    return app
