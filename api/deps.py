"""What the routes use, built once at start-up (`api.main`) and handed out as narrow typed
dependencies: a route asks for the Temporal client or the bus, not for everything.

They are coroutines, though none waits: FastAPI runs a plain function dependency in its
thread pool, a thread hop per dependency per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from agents.runtime import LiveRouter
from api.services.control import Cancellations
from api.services.run_list import Pages
from core.artifacts import ArtifactStore
from core.bus import EventBus
from core.flags import Flags
from core.settings import Settings


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_temporal(request: Request) -> Client:
    """The Temporal client: lazy, so the API serves (and answers 503 naming the address)
    while Temporal is down, and connects on the first call once it is up."""
    client: Client = request.app.state.temporal
    return client


async def get_bus(request: Request) -> EventBus:
    bus: EventBus = request.app.state.bus
    return bus


async def get_engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.engine
    return engine


async def get_artifacts(request: Request) -> ArtifactStore:
    artifacts: ArtifactStore = request.app.state.artifacts
    return artifacts


async def get_redis(request: Request) -> Redis:
    redis: Redis = request.app.state.redis
    return redis


async def get_cancellations(request: Request) -> Cancellations:
    cancellations: Cancellations = request.app.state.cancellations
    return cancellations


async def get_flags(request: Request) -> Flags:
    flags: Flags = request.app.state.flags
    return flags


async def get_pages(request: Request) -> Pages:
    pages: Pages = request.app.state.pages
    return pages


async def get_router(request: Request) -> LiveRouter:
    router: LiveRouter = request.app.state.router
    return router


SettingsDep = Annotated[Settings, Depends(get_settings)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
BusDep = Annotated[EventBus, Depends(get_bus)]
EngineDep = Annotated[AsyncEngine, Depends(get_engine)]
ArtifactsDep = Annotated[ArtifactStore, Depends(get_artifacts)]
RedisDep = Annotated[Redis, Depends(get_redis)]
RouterDep = Annotated[LiveRouter, Depends(get_router)]
CancellationsDep = Annotated[Cancellations, Depends(get_cancellations)]
FlagsDep = Annotated[Flags, Depends(get_flags)]
PagesDep = Annotated[Pages, Depends(get_pages)]
