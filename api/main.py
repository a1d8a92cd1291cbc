"""The API application: its clients, routers, error handlers, and the dashboard's files."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agents.config import load_agents
from agents.runtime import LiveRouter
from api import dashboard, errors
from api.middleware import RequestGuard
from api.request_metrics import Measured, RequestMetrics
from api.routes import router
from api.services import run_list
from api.services.control import Cancellations
from core import db, telemetry, temporal
from core import redis as redis_client
from core.artifacts import ArtifactStore
from core.audit import AuditEvent, AuditLog
from core.auth import ApiKeys, Authenticator, OidcTokens, Principal
from core.bus import EventBus
from core.flags import Flags
from core.redact import Redactor, redact_logs
from core.settings import Settings, load_settings

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
log = logging.getLogger(__name__)


class Audited:
    """Every write and decision, once answered, in the audit log: who, where, how it ended
    (pure ASGI: the body streams through untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITES:
            await self.app(scope, receive, send)
            return
        status = 500

        async def sent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sent)
        finally:
            caller: Principal | None = scope.get("state", {}).get("principal")
            if caller is not None:
                route = scope.get("route")
                action = f"{scope['method']} {getattr(route, 'path', scope['path'])}"
                event = AuditEvent(
                    tenant=caller.tenant,
                    subject=caller.subject,
                    credential=caller.credential,
                    action=action,
                    target=scope["path"],
                    status=status,
                )
                await scope["app"].state.audit.record(event)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    redact_logs(Redactor.of(settings))
    telemetry.start_tracing(settings, "api")  # when ACC_OTEL_ENDPOINT is set

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = app.state
        state.settings = settings
        state.temporal = await temporal.connect(
            settings, lazy=True, interceptors=telemetry.interceptors()
        )
        state.redis = redis_client.connect(settings)
        state.router = LiveRouter(settings, state.redis, load_agents(settings.AGENTS_FILE))
        state.engine = db.create_engine(settings)
        await db.migrate(state.engine, settings.DATABASE_SCHEMA)
        state.pages = run_list.pages(state.temporal, settings, state.engine)
        state.artifacts = ArtifactStore(state.engine, settings.INLINE_OUTPUT_LIMIT)
        state.bus = EventBus.from_settings(settings)
        await state.bus.start_or_degrade()
        state.cancellations = Cancellations(settings.CANCEL_GRACE_SECONDS)
        state.flags = Flags(settings)
        state.http = httpx.AsyncClient(timeout=10)
        oidc = OidcTokens(settings, state.http) if settings.OIDC_ISSUER else None
        state.authenticator = Authenticator(ApiKeys(state.engine), oidc)
        state.rate_limiters = {}
        state.audit = AuditLog(state.engine)
        if settings.AUTH == "off":
            log.warning("ACC_AUTH=off: anyone who reaches this API may do anything in it")
        # What startup built lives as long as the process: out of the collector's way,
        # full collections scan only what requests allocate (15-20% more list requests a
        # second under 1,000 clients, docs/BENCHMARKS.md).
        gc.collect()
        gc.freeze()
        yield
        gc.unfreeze()  # an app shut down in a process that goes on (tests) is collectable
        await state.http.aclose()
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
    app.state.request_metrics = RequestMetrics()
    app.add_middleware(Audited)
    app.add_middleware(RequestGuard, max_body_bytes=settings.API_MAX_BODY_BYTES)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=True,
        allow_methods=["GET", "POST"],
        allow_headers=["Content-Type", "Authorization", "X-Namespace"],
        expose_headers=["X-Acc-Next-Cursor", "X-Acc-List-Source"],
    )
    app.add_middleware(Measured, metrics=app.state.request_metrics)  # outermost: sees all
    app.include_router(router)
    telemetry.instrument_app(app)
    site = dashboard.site(settings.pool_urls)
    if site is None:
        app.add_api_route("/", dashboard.not_built, include_in_schema=False)
    else:
        app.mount("/", site, name="dashboard")
    return app
