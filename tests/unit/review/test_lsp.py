"""`acc review --lsp` driven over stdio as an editor drives it: JSON-RPC with
Content-Length framing; initialize, open a vulnerable file, wait for its diagnostics, ask
for code actions, apply the fix's edit and run the command it carries; the feedback lands
in the same store the API reads."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from core.db import create_engine
from core.settings import load_settings
from review.learning import Counts
from review.store import ReviewStore

pytestmark = pytest.mark.unit
# "→" is 3 bytes in UTF-8 but 1 UTF-16 unit: the ranges must count what the editor counts.
APP = """import yaml


def load(text):
    print("→"); return yaml.load(text)
"""
UNSAFE = "python.security.yaml-unsafe-load"
PRINT = "python.style.print-call"


class Editor:
    """The client side of the protocol, as an editor speaks it."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process = process
        self.log = log
        self.backlog: list[dict[str, Any]] = []
        self.inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self.next_id = 0
        assert process.stdout is not None
        threading.Thread(target=self._read, args=(process.stdout,), daemon=True).start()

    def _read(self, stream: IO[bytes]) -> None:
        while True:
            headers: dict[str, str] = {}
            while (line := stream.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            if not headers:
                return
            self.inbox.put(json.loads(stream.read(int(headers["content-length"]))))

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def notify(self, method: str, params: Any) -> None:
        self.send({"method": method, "params": params})

    def request(self, method: str, params: Any, timeout: float = 60) -> Any:
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        answer = self.wait(lambda m: m.get("id") == self.next_id and "method" not in m, timeout)
        assert "error" not in answer, answer
        return answer["result"]

    def wait(self, match: Any, timeout: float = 60) -> dict[str, Any]:
        """The next message `match` accepts (notifications passed over are kept for later
        waits); server requests on the way get an answer."""
        for kept in self.backlog:
            if match(kept):
                self.backlog.remove(kept)
                return kept
        while True:
            try:
                message = self.inbox.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(
                    f"no answer; the server said:\n{self.log.read_text()}"
                ) from None
            if match(message):
                return message
            if "id" in message and "method" in message:  # e.g. workspace/configuration
                self.send({"id": message["id"], "result": None})
            else:
                self.backlog.append(message)


@pytest.fixture
def editor(tmp_path: Path) -> Iterator[tuple[Editor, Path, str]]:
    project = tmp_path / "project"
    project.mkdir()
    (project / "loader.py").write_text(APP)
    database = f"sqlite:///{tmp_path / 'acc.db'}"
    env = {k: v for k, v in os.environ.items() if k not in ("ACC_DATABASE_SCHEMA", "ACC_TENANT")}
    env.update(
        ACC_DATA_DIR=str(tmp_path / "data"), ACC_DATABASE_URL=database, ACC_REVIEW_TEAM="editors"
    )
    log = tmp_path / "lsp.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", "review", "--lsp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log.open("wb"),
        env=env,
        cwd=project,
    )
    try:
        yield Editor(process, log), project, database
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def test_an_editor_sees_findings_applies_a_fix_and_the_feedback_is_stored(
    editor: tuple[Editor, Path, str],
) -> None:
    client, project, database = editor
    uri = (project / "loader.py").as_uri()
    init = client.request(
        "initialize",
        {"processId": os.getpid(), "rootUri": project.as_uri(), "capabilities": {}},
    )
    capabilities = init["capabilities"]
    assert capabilities["codeActionProvider"]
    assert "acc.review.feedback" in capabilities["executeCommandProvider"]["commands"]
    client.notify("initialized", {})
    client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": APP}},
    )
    published = client.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics")
    assert published["params"]["uri"] == uri
    diagnostics = {d["code"]: d for d in published["params"]["diagnostics"]}
    unsafe = diagnostics[UNSAFE]
    assert unsafe["severity"] == 1  # Error
    assert unsafe["source"] == "acc review"
    assert "CWE-502" in unsafe["message"] and "confidence 0.85" in unsafe["message"]
    assert unsafe["range"] == {
        "start": {"line": 4, "character": 23},
        "end": {"line": 4, "character": 38},
    }
    assert diagnostics[PRINT]["severity"] in (2, 3)

    actions = client.request(
        "textDocument/codeAction",
        {
            "textDocument": {"uri": uri},
            "range": unsafe["range"],
            "context": {"diagnostics": [unsafe]},
        },
    )
    fix = next(a for a in actions if "edit" in a)
    assert any(a["title"].startswith("acc: dismiss") for a in actions)
    edit = fix["edit"]["changes"][uri][0]
    assert edit["newText"] == "yaml.safe_load(text)"
    lines = APP.splitlines(keepends=True)
    line = lines[edit["range"]["start"]["line"]]
    start, end = edit["range"]["start"]["character"], edit["range"]["end"]["character"]
    assert line[start:end] == "yaml.load(text)"  # the edit replaces exactly the finding

    # The editor applies the edit, then runs the command the action carries.
    command = fix["command"]
    result = client.request(
        "workspace/executeCommand",
        {"command": command["command"], "arguments": command["arguments"]},
    )
    assert result["rule_id"] == UNSAFE and result["action"] == "accept"
    assert result["confidence"] == pytest.approx((0.85 * 10 + 1) / 11, abs=1e-4)
    withdrawn = client.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics")
    assert UNSAFE not in {d["code"] for d in withdrawn["params"]["diagnostics"]}

    # Dismissing a finding records a rejection and withdraws it too.
    printed = diagnostics[PRINT]
    actions = client.request(
        "textDocument/codeAction",
        {
            "textDocument": {"uri": uri},
            "range": printed["range"],
            "context": {"diagnostics": [printed]},
        },
    )
    dismiss = next(a for a in actions if a["title"] == f"acc: dismiss {PRINT} here (not a problem)")
    assert "edit" not in dismiss
    result = client.request(
        "workspace/executeCommand",
        {"command": dismiss["command"]["command"], "arguments": dismiss["command"]["arguments"]},
    )
    assert result["action"] == "reject" and result["rule_id"] == PRINT
    left = client.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics")
    assert left["params"]["diagnostics"] == []

    client.request("shutdown", None)
    client.notify("exit", None)
    assert client.process.wait(timeout=10) == 0

    async def stored() -> dict[tuple[str, str], Counts]:
        engine = create_engine(load_settings(DATABASE_URL=database, DATABASE_SCHEMA=None))
        try:
            return await ReviewStore(engine).counts("default")
        finally:
            await engine.dispose()

    counts = asyncio.run(stored())
    assert counts[("editors", UNSAFE)] == Counts(accepted=1)
    assert counts[("editors", PRINT)] == Counts(rejected=1)
