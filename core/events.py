"""The versioned envelope of every event acc publishes on the bus.

Consumers switch on `type` and read `version` to know the shape of `data`;
a change that is not backwards compatible bumps the version.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

EventType = Literal[
    "run.started",
    "run.completed",
    "run.failed",
    "run.cancelled",
    "step.started",
    "step.completed",
    "step.failed",
    "agent.message",
    "agent.usage",
    "routing.decided",
    "breaker.changed",
    "run.waiting",
    # The WebSocket pool: connections (run_id "connection:<id>", so one connection's events
    # keep their order) and dispatches that failed (ACC_DEAD_LETTER_TOPIC).
    "pool.registered",
    "pool.recycled",
    "pool.evicted",
    "pool.disconnected",
    "dispatch.failed",
]

ENVELOPE_VERSION = 1


class Event(BaseModel):
    """One lifecycle fact. Keyed by `run_id` on the bus so a run's events stay in order."""

    version: int = ENVELOPE_VERSION
    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    type: EventType
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    source: str
    run_id: str
    tenant: str = "default"
    step: str | None = None
    correlation_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    def key(self) -> bytes:
        return self.run_id.encode()

    def encode(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def decode(cls, raw: bytes) -> Event:
        return cls.model_validate_json(raw)
