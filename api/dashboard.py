"""The dashboard's files (web/dist, built by `./scripts/up.sh` or `npm --prefix web run build`)
served at `/`: a page's path (`/runs/<id>`) that is no file answers with index.html, so deep
links open in the app; hashed assets are cached for good, index.html never.

Without a build, `/` says how to make one."""

from __future__ import annotations

from pathlib import Path

from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Scope

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
# The API's own prefixes: a path under them that matched no route stays a JSON 404.
API_PREFIXES = ("v1/", "codec/", "docs", "redoc", "openapi.json", "healthz", "readyz", "metrics")
# What the dashboard's page may do: scripts and styles from this origin only (inline style
# attributes are the charts'), calls to this API and the pool's nodes only (live updates),
# never inside another site's frame.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'{connect}; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)
NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>acc</title></head>
<body style="font:16px/1.5 system-ui,sans-serif;max-width:48rem;margin:3rem auto">
<main><h1>acc</h1>
<p>The dashboard is not built on this machine. <code>./scripts/up.sh</code> builds it, or
<code>npm --prefix web ci &amp;&amp; npm --prefix web run build</code>.</p>
<p><a href="/docs">API reference (OpenAPI)</a> · <a href="/readyz">Readiness</a></p>
</main></body></html>
"""


def is_page(path: str) -> bool:
    """A path the app routes itself (`runs/abc`), not a file (`assets/x.js`) nor the API's."""
    last = path.rsplit("/", 1)[-1]
    return not path.startswith(API_PREFIXES) and "." not in last


class Dashboard(StaticFiles):
    def __init__(self, directory: Path, connect: list[str]) -> None:
        super().__init__(directory=directory, html=True)
        self.policy = PAGE_POLICY.format(connect="".join(f" {url}" for url in connect))

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code != 404 or not is_page(path):
                raise
            response = await super().get_response("index.html", scope)
        if path.startswith("assets/") and response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        else:
            response.headers["Cache-Control"] = "no-cache"
        response.headers["Content-Security-Policy"] = self.policy
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response


async def not_built() -> HTMLResponse:
    return HTMLResponse(NOT_BUILT, headers={"Cache-Control": "no-cache"})


def site(connect: list[str], web_dir: Path = WEB_DIR) -> ASGIApp | None:
    """The built dashboard (gzipped for browsers that take it), allowed to connect to this
    origin and to `connect` (the pool's nodes), or None when web/dist has no index.html."""
    dist = web_dir / "dist"
    if not (dist / "index.html").is_file():
        return None
    return GZipMiddleware(Dashboard(dist, connect), minimum_size=1024)
