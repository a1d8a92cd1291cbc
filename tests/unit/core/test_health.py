"""The health server of processes without an API: live, ready (or why not), draining,
metrics, and garbage answered with a 400 while the server keeps serving."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from core.health import HealthServer

pytestmark = pytest.mark.unit


async def test_it_answers_probes_metrics_and_garbage() -> None:
    reason: list[str | None] = ["workers not polling yet"]

    async def ready() -> str | None:
        return reason[0]

    async with HealthServer("127.0.0.1", 0, ready) as server:
        base = f"http://127.0.0.1:{server.port}"
        async with httpx.AsyncClient(base_url=base) as http:
            assert (await http.get("/healthz")).json() == {"status": "ok"}
            not_ready = await http.get("/readyz")
            assert not_ready.status_code == 503
            assert not_ready.json()["reason"] == "workers not polling yet"
            reason[0] = None
            assert (await http.get("/readyz")).status_code == 200
            metrics = await http.get("/metrics")
            assert metrics.status_code == 200 and "process_" in metrics.text
            assert (await http.get("/nope")).status_code == 404
            assert (await http.post("/healthz")).status_code == 405
            # garbage, then a client that never finishes its request: both closed, still serving
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"\x00\x01garbage\r\n\r\n")
            assert (await reader.read()).startswith(b"HTTP/1.1 400")
            writer.close()
            server.draining = True
            draining = await http.get("/readyz")
            assert draining.status_code == 503 and "draining" in draining.json()["reason"]
            assert (await http.get("/healthz")).status_code == 200  # alive while it drains


async def test_a_failing_readiness_check_is_the_reason() -> None:
    async def ready() -> str | None:
        raise ConnectionError("Temporal unreachable at 10.0.0.1:7233")

    async with (
        HealthServer("127.0.0.1", 0, ready) as server,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http,
    ):
        answer = await http.get("/readyz")
    assert answer.status_code == 503
    assert answer.json() == {"status": "down", "reason": "Temporal unreachable at 10.0.0.1:7233"}


async def test_metrics_append_another_exporters_series_and_survive_its_absence() -> None:
    async def ready() -> str | None:
        return None

    async def exporter(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = b"# TYPE temporal_workflow_completed counter\ntemporal_workflow_completed 3"
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    other = await asyncio.start_server(exporter, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{other.sockets[0].getsockname()[1]}/metrics"
    async with (
        HealthServer("127.0.0.1", 0, ready, also_metrics=url) as server,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http,
    ):
        both = (await http.get("/metrics")).text
        other.close()
        await other.wait_closed()
        alone = await http.get("/metrics")
    assert "process_" in both and both.endswith("temporal_workflow_completed 3\n")
    assert alone.status_code == 200 and "process_" in alone.text
    assert "temporal_" not in alone.text
