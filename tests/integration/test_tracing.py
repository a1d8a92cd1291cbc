"""OpenTelemetry traces across API -> workflow -> activity -> backend: one request that
starts a run on the real API, the real local Temporal server and the real worker is one
trace, read back from an in-memory exporter."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from core import telemetry
from core.bus import build_consumer
from core.events import Event
from core.settings import Settings
from tests.conftest import api_client, running_workers

pytestmark = pytest.mark.integration


async def test_one_trace_spans_the_api_request_the_workflow_the_activity_and_the_backend(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(TEMPORAL_ADDRESS=temporal_env.client.service_client.config.target_host)
    exporter = InMemorySpanExporter()
    telemetry.start_tracing(settings, "test", exporter=exporter)
    try:
        # The worker's client as `acc worker` builds it: with the tracing interceptors.
        config = temporal_env.client.config()
        traced = Client(**{**config, "interceptors": telemetry.interceptors()})
        async with running_workers(traced, settings), api_client(settings) as http:
            spec = {
                "name": "traced",
                "steps": [{"name": "s0", "agent": {"backend": "shell", "command": "echo hi"}}],
            }
            resp = await http.post("/v1/runs", json=spec)
            assert resp.status_code == 202, resp.text
            run_id = resp.json()["id"]
            run = (await http.get(f"/v1/runs/{run_id}", params={"wait": 20})).json()
        assert run["status"] == "completed"
    finally:
        telemetry.stop_tracing()
    spans = exporter.get_finished_spans()
    request = next(s for s in spans if s.kind == SpanKind.SERVER and s.name == "POST /v1/runs")
    trace = [s for s in spans if s.context.trace_id == request.context.trace_id]
    names = {s.name for s in trace}
    assert "StartWorkflow:PipelineWorkflow" in names, sorted(names)
    assert "RunWorkflow:PipelineWorkflow" in names
    assert "RunActivity:run_agent" in names
    assert "backend shell" in names
    # The run's events carry the trace too: the API's run.started and the worker's steps.
    consumer = build_consumer(settings.kafka_bootstrap, settings.EVENTS_TOPIC, group_id=None)
    await consumer.start()
    events: list[Event] = []
    try:
        async with asyncio.timeout(15):
            while not any(e.type == "run.completed" for e in events):
                batch = await consumer.getmany(timeout_ms=200)
                events += [Event.decode(m.value) for msgs in batch.values() for m in msgs]
    finally:
        await consumer.stop()
    traced_events = {e.type for e in events if e.trace_id == f"{request.context.trace_id:032x}"}
    assert {"run.started", "step.started", "step.completed"} <= traced_events
    backend = next(s for s in trace if s.name == "backend shell")
    assert backend.attributes is not None and backend.attributes["run_id"] == run_id
    # The backend's span is a child of the activity's.
    activity = next(s for s in trace if s.name == "RunActivity:run_agent")
    assert backend.parent is not None and backend.parent.span_id == activity.context.span_id
