"""`acc api` with ACC_API_WORKERS: several processes serve one port, each built from the
settings the command resolved."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from core.settings import child_environment, load_settings
from tests.support.servers import free_port, stop, wait_tcp

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def test_two_api_workers_serve_one_port_and_stop_together(tmp_path: Path) -> None:
    port = free_port()
    settings = load_settings(
        DATA_DIR=tmp_path / ".acc", DATABASE_URL=None, DATABASE_SCHEMA=None, API_PORT=port
    )
    env = child_environment(settings) | {"ACC_API_WORKERS": "2", "ACC_LOG_LEVEL": "WARNING"}
    env.pop("ACC_DATABASE_URL", None)  # the data dir's SQLite file: no shared schema
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "api"], cwd=ROOT, env=env, stderr=subprocess.PIPE
    )
    try:
        wait_tcp(port, 60)
        pids: set[int] = set()
        deadline = time.monotonic() + 30
        while len(pids) < 2 and time.monotonic() < deadline:
            ready = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
            assert ready.status_code == 200
            pids = _children(proc.pid)
            time.sleep(0.2)
        assert len(pids) == 2, pids  # uvicorn's two workers under the one command
    finally:
        stop(proc)
    assert proc.wait(15) is not None
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)


def _children(pid: int) -> set[int]:
    """The worker processes uvicorn spawned (not multiprocessing's resource tracker)."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    workers = set()
    for child in map(int, out.split()):
        with contextlib.suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                workers.add(child)
    return workers
