"""Clients the routes need, built once at start-up and handed out as typed dependencies."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from core import temporal
from core.artifacts import ArtifactStore
from core.bus import EventBus
from core.settings import Settings


@dataclass
class Services:
    """Everything a request may use. The Temporal client connects on first use, so the API
    starts (and answers 503 naming the address) while Temporal is still down."""

    settings: Settings
    engine: AsyncEngine
    artifacts: ArtifactStore
    bus: EventBus
    _client: Client | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def temporal(self) -> Client:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    self._client = await temporal.connect(self.settings)
        return self._client


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_artifacts(services: ServicesDep) -> ArtifactStore:
    return services.artifacts


ArtifactsDep = Annotated[ArtifactStore, Depends(get_artifacts)]
