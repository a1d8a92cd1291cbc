"""The dashboard's files at `/`: deep links open the app, the API's 404s stay JSON, assets
are cached, the page carries its content policy; the typed client's sources are current."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import dashboard
from api.errors import install

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[3]


def app_with(web: Path) -> TestClient:
    app = FastAPI()
    install(app)

    @app.get("/v1/thing")
    async def thing() -> dict[str, str]:
        return {"ok": "yes"}

    site = dashboard.site(["ws://127.0.0.1:8765"], web)
    if site is None:
        app.add_api_route("/", dashboard.not_built, include_in_schema=False)
    else:
        app.mount("/", site)
    return TestClient(app)


@pytest.fixture
def built(tmp_path: Path) -> Path:
    (tmp_path / "dist" / "assets").mkdir(parents=True)
    (tmp_path / "dist" / "index.html").write_text("<div id=root>app</div>")
    (tmp_path / "dist" / "assets" / "index-abc123.js").write_text("console.log(1);" * 200)
    return tmp_path


def test_deep_links_answer_with_the_app(built: Path) -> None:
    client = app_with(built)
    for path in ("/", "/runs", "/runs/hello-0123456789ab", "/runs/x/replay", "/agents"):
        page = client.get(path)
        assert page.status_code == 200 and "app" in page.text, path
        assert page.headers["cache-control"] == "no-cache"
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert "connect-src 'self' ws://127.0.0.1:8765;" in page.headers["content-security-policy"]


def test_files_and_api_paths_are_not_the_app(built: Path) -> None:
    client = app_with(built)
    asset = client.get("/assets/index-abc123.js", headers={"Accept-Encoding": "gzip"})
    assert asset.status_code == 200 and "immutable" in asset.headers["cache-control"]
    assert asset.headers["content-encoding"] == "gzip" and asset.text.startswith("console")
    assert client.get("/assets/missing.js").status_code == 404
    missing = client.get("/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"
    assert client.get("/v1/thing").json() == {"ok": "yes"}


def test_without_a_build_the_root_says_how_to_make_one(tmp_path: Path) -> None:
    page = app_with(tmp_path).get("/")
    assert page.status_code == 200 and "./scripts/up.sh" in page.text


def test_the_dashboards_openapi_document_is_current() -> None:
    from api.main import create_app

    stored = json.loads((ROOT / "web" / "openapi.json").read_text())
    assert stored == json.loads(json.dumps(create_app().openapi())), (
        "web/openapi.json is stale: run ./scripts/web-api.sh and commit the result"
    )


def test_the_typed_client_matches_the_openapi_document(tmp_path: Path) -> None:
    generator = ROOT / "web" / "node_modules" / ".bin" / "openapi-typescript"
    if not generator.exists() or shutil.which("node") is None:
        pytest.skip("web/node_modules is not installed (npm --prefix web ci)")
    out = tmp_path / "schema.d.ts"
    subprocess.run(
        [str(generator), str(ROOT / "web" / "openapi.json"), "-o", str(out)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert out.read_text() == (ROOT / "web" / "src" / "api" / "schema.d.ts").read_text(), (
        "web/src/api/schema.d.ts is stale: run ./scripts/web-api.sh and commit the result"
    )


async def test_the_config_names_the_pool_nodes_to_a_reader(tmp_path: Path) -> None:
    import httpx

    from api.main import create_app
    from core.settings import load_settings

    settings = load_settings(
        DATA_DIR=tmp_path,
        DATABASE_URL=f"sqlite:///{tmp_path / 'acc.db'}",
        POOL_URL="ws://node-a:8765,ws://node-b:8765",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        _, token = await app.state.authenticator.keys.create("r", "default", ["runs:read"])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            assert (await http.get("/v1/dashboard/config")).status_code == 401
            answer = await http.get("/v1/dashboard/config", headers={"X-API-Key": token})
    assert answer.status_code == 200
    assert answer.json()["pool_urls"] == ["ws://node-a:8765", "ws://node-b:8765"]
