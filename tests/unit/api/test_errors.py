"""Bad input and missing dependencies get one error shape with the right status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from api.main import create_app
from core.settings import load_settings
from tests.support.servers import free_port

pytestmark = pytest.mark.unit


@pytest.fixture
async def http(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    # Nothing listens on this Temporal port: every Temporal call must be a clean 503.
    settings = load_settings(
        DATA_DIR=tmp_path,
        TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}",
        DATABASE_URL=f"sqlite:///{tmp_path / 'acc.db'}",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://acc") as client:
            yield client


def step(**agent: object) -> dict[str, object]:
    return {"name": "s", "agent": {"backend": "shell", **agent}}


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"name": "x", "steps": [step(command="echo")], "colour": "red"}, "colour"),
        ({"name": "Bad Name!", "steps": [step(command="echo")]}, "name"),
        ({"name": "x", "steps": []}, "steps"),
        ({"name": "x", "steps": [step()]}, "steps[0].agent.shell.command"),
        ({"name": "x", "steps": [step(command="echo", backend="gpt")]}, "steps[0].agent.backend"),
        ({"name": "x", "pattern": "mesh", "steps": [step(command="echo")]}, "pattern"),
        ({"name": "x", "steps": [step(command="echo 'open")]}, "steps[0].agent.shell.command"),
        ({"name": "x", "steps": [step(command="a"), step(command="b")]}, "body"),
    ],
)
async def test_malformed_spec_is_422_naming_the_field(
    http: httpx.AsyncClient, spec: dict[str, object], field: str
) -> None:
    resp = await http.post("/v1/runs", json=spec)
    assert resp.status_code == 422
    error = resp.json()["error"]
    assert error["type"] == "invalid_input"
    assert field in [d["field"] for d in error["details"]], error
    assert field in error["message"]


async def test_body_that_is_not_json_is_422(http: httpx.AsyncClient) -> None:
    resp = await http.post(
        "/v1/runs", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert resp.status_code == 422
    assert resp.json()["error"]["type"] == "invalid_input"


async def test_temporal_unreachable_is_503_naming_the_address(http: httpx.AsyncClient) -> None:
    spec = {"name": "x", "steps": [step(command="echo hi")]}
    for resp in (
        await http.post("/v1/runs", json=spec),
        await http.get("/v1/runs"),
        await http.get("/v1/runs/some-run"),
    ):
        assert resp.status_code == 503
        error = resp.json()["error"]
        assert error["type"] == "service_unavailable"
        assert "Temporal is unreachable at 127.0.0.1:" in error["message"]
        assert error["details"]["address"].startswith("127.0.0.1:")


async def test_readiness_reports_the_failing_part(http: httpx.AsyncClient) -> None:
    resp = await http.get("/readyz")
    assert resp.status_code == 503
    checks = resp.json()["checks"]
    assert checks["database"] == "ok"
    assert checks["temporal"].startswith("unreachable at 127.0.0.1:")


async def test_unknown_route_and_bad_query_use_the_error_shape(http: httpx.AsyncClient) -> None:
    missing = await http.get("/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"
    bad = await http.get("/v1/runs", params={"status": "sleeping"})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "query.status"


async def test_dashboard_placeholder_is_served(http: httpx.AsyncClient) -> None:
    resp = await http.get("/")
    assert resp.status_code == 200 and "acc" in resp.text
