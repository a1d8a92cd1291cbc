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
        _, token = await app.state.authenticator.keys.create("test", "default", ["admin"])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://localhost", headers={"X-API-Key": token}
        ) as client:
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


async def test_a_body_over_the_limit_is_413_naming_it(http: httpx.AsyncClient) -> None:
    spec = {"name": "x", "input": "a" * 2_000_000, "steps": [step(command="echo hi")]}
    resp = await http.post("/v1/runs", json=spec)
    assert resp.status_code == 413
    error = resp.json()["error"]
    assert error["type"] == "payload_too_large" and "ACC_API_MAX_BODY_BYTES" in error["message"]

    async def chunks() -> AsyncIterator[bytes]:  # no content-length: counted as it arrives
        for _ in range(40):
            yield b" " * 50_000

    headers = {"content-type": "application/json"}
    streamed = await http.post("/v1/runs", content=chunks(), headers=headers)
    assert streamed.status_code == 413, streamed.text
    assert "ACC_API_MAX_BODY_BYTES" in streamed.json()["error"]["message"]


async def test_a_body_that_is_not_json_is_415_saying_json_is_expected(
    http: httpx.AsyncClient,
) -> None:
    resp = await http.post("/v1/runs", content=b"name=x", headers={"content-type": "text/plain"})
    assert resp.status_code == 415
    assert "Content-Type: application/json" in resp.json()["error"]["message"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("approval", {"timeout_seconds": 1e300}),
        ("timeout_seconds", 1e9),
    ],
)
async def test_durations_past_their_bound_are_refused_before_anything_starts(
    http: httpx.AsyncClient, field: str, value: object
) -> None:
    spec = {"name": "x", "steps": [{**step(command="echo"), field: value}]}
    resp = await http.post("/v1/runs", json=spec)
    assert resp.status_code == 422
    assert any(field in d["field"] for d in resp.json()["error"]["details"])


async def test_unknown_fields_of_a_fork_or_a_decision_are_422(http: httpx.AsyncClient) -> None:
    fork = await http.post("/v1/runs/r/fork", json={"from_step": 1, "inptu": "x"})
    assert fork.status_code == 422 and "inptu" in fork.json()["error"]["message"]
    decision = await http.post("/v1/runs/r/approve", json={"coment": "ok"})
    assert decision.status_code == 422 and "coment" in decision.json()["error"]["message"]


async def test_method_not_allowed_says_which_are(http: httpx.AsyncClient) -> None:
    resp = await http.delete("/v1/runs")
    assert resp.status_code == 405 and "GET" in resp.headers["allow"]


async def test_a_405_names_every_method_the_path_takes(http: httpx.AsyncClient) -> None:
    """Not the dashboard's "GET, HEAD" (its files are mounted at /), nor one route's."""
    resp = await http.request("OPTIONS", "/v1/keys")
    assert resp.status_code == 405
    assert resp.headers["allow"] == "GET, POST"
    assert (await http.request("OPTIONS", "/v1/runs/r-1/approve")).headers["allow"] == "POST"


async def test_a_get_on_a_path_that_takes_only_post_is_a_405_not_the_dashboards_404(
    http: httpx.AsyncClient,
) -> None:
    resp = await http.get("/codec/decode")
    assert (resp.status_code, resp.headers["allow"]) == (405, "POST")
    assert resp.json()["error"]["type"] == "method_not_allowed"
    assert (await http.get("/v1/agents/route")).headers["allow"] == "POST"
    assert (await http.get("/v1/no-such-thing")).status_code == 404
