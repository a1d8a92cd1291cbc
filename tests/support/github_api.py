"""STAND-IN for GitHub's REST API: a real local HTTP server that records every request
(method, path, headers, JSON body) and answers a pull-request review the way GitHub does
(`200` with the review's `id` and `html_url`), or with `status` and GitHub's error shape
when a test sets one.

    with GitHubApiStandIn() as api:
        ...  # ACC_GITHUB_API_URL=api.url
        assert api.requests[0].path == "/repos/acme/shop/pulls/7/reviews"
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class GitHubApiStandIn:
    status: int = 200
    requests: list[Recorded] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                body = json.loads(raw) if raw else None
                headers = {k.lower(): v for k, v in self.headers.items()}
                api.requests.append(Recorded("POST", self.path, headers, body))
                if api.status >= 400:
                    answer: dict[str, Any] = {
                        "message": "Validation Failed" if api.status == 422 else "Bad credentials",
                        "documentation_url": "https://docs.github.com/rest",
                    }
                else:
                    number = len(api.requests)
                    pull = self.path.removesuffix("/reviews")
                    answer = {
                        "id": number,
                        "state": "COMMENTED",
                        "commit_id": (body or {}).get("commit_id"),
                        "html_url": f"{api.url}{pull}#pullrequestreview-{number}",
                    }
                data = json.dumps(answer).encode()
                self.send_response(api.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> GitHubApiStandIn:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
