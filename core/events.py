"""The versioned envelope of every event acc publishes on the bus.

Consumers switch on `type` and read `version` to know the shape of the envelope and of
`data`; a change that is not backwards compatible bumps the version, and `Event.decode`
reads every older version (`UPGRADES`), so a consumer never has to. Its JSON Schema is
`docs/event.schema.json` (`acc events schema`).

Versions:
1. `version, id, type, time, source, run_id, tenant, step, correlation_id, data`; a step's
   backend, tokens and cost only inside `data` (step.started / step.completed).
2. adds `agent`, `cost_usd`, `tokens` and `trace_id` to the envelope, so consumers (the
   aggregator, `acc events tail`) read them without knowing each type's `data`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from opentelemetry import trace
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
    # Alerts (analytics/alerting.py, the API's acknowledge): run_id "alert:<id>", so one
    # alert's events keep their order; `data` is the alert (status, rule, value, message).
    "alert.opened",
    "alert.escalated",
    "alert.acknowledged",
    "alert.resolved",
]

ENVELOPE_VERSION = 2


class Event(BaseModel):
    """One lifecycle fact. Keyed by `run_id` on the bus so a run's events stay in order."""

    version: int = Field(ENVELOPE_VERSION, description="Envelope version (see core/events.py)")
    id: str = Field(
        default_factory=lambda: uuid.uuid4().hex, description="Unique: consumers dedupe on it"
    )
    type: EventType
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    source: str = Field(description="The process that published it, e.g. worker/agents")
    run_id: str
    tenant: str = "default"
    step: str | None = None
    correlation_id: str | None = None
    agent: str | None = Field(
        None, description="The step's agent: its backend and model or capability, e.g. llm:gpt-4o"
    )
    cost_usd: float | None = Field(None, description="Cost of what this event reports, in USD")
    tokens: int | None = Field(None, description="Input + output tokens of what it reports")
    trace_id: str | None = Field(None, description="OpenTelemetry trace id (32 hex digits)")
    data: dict[str, Any] = Field(default_factory=dict)

    def key(self) -> bytes:
        return self.run_id.encode()

    def encode(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def decode(cls, raw: bytes | str) -> Event:
        """Read an event of any version up to this one (ValueError for anything else).

        An event of this version is parsed and validated in one pass (pydantic's JSON
        reader, about twice as fast as `json.loads` and then validating); anything else
        (no `version` is version 1) goes through the upgrades."""
        try:
            event = cls.model_validate_json(raw)
        except ValueError:  # an older version's shape, or not an event at all
            pass
        else:
            if event.version == ENVELOPE_VERSION and "version" in event.model_fields_set:
                return event
        payload = json.loads(raw)
        if not isinstance(payload, dict):
            raise ValueError("an event is a JSON object")
        version = payload.get("version", 1)
        if not isinstance(version, int) or version < 1:
            raise ValueError(f"unknown event version {version!r}")
        for upgrade in UPGRADES[version - 1 :]:
            payload = upgrade(payload)
        return cls.model_validate(payload)


def _v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """Version 1 kept a step's backend and usage in `data`: lift them into the envelope."""
    data = payload.get("data") or {}
    lifted: dict[str, Any] = {"version": 2}
    if isinstance(data, dict):
        if isinstance(data.get("backend"), str):
            lifted["agent"] = data["backend"]
        if isinstance(data.get("cost_usd"), int | float):
            lifted["cost_usd"] = float(data["cost_usd"])
        tokens = [data.get(k) for k in ("input_tokens", "output_tokens")]
        if any(isinstance(t, int) for t in tokens):
            lifted["tokens"] = sum(t for t in tokens if isinstance(t, int))
    return {**payload, **lifted}


# UPGRADES[n - 1] turns version n into version n + 1.
UPGRADES: list[Callable[[dict[str, Any]], dict[str, Any]]] = [_v1_to_v2]
assert len(UPGRADES) == ENVELOPE_VERSION - 1


def event_schema() -> dict[str, Any]:
    """The envelope's JSON Schema (published as docs/event.schema.json)."""
    schema = Event.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://acc.dev/schemas/event.v{ENVELOPE_VERSION}.json"
    return schema


def current_trace_id() -> str | None:
    """The OpenTelemetry trace this code runs in, if any."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
