"""The whole stack as a user starts it: `acc up` in its own directory, every port free
(the e2e and chaos tests, and the benchmarks that drive a whole stack)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from core.settings import child_environment, load_settings
from tests.support.servers import free_port

# Settings that would point `acc up` at services other than the ones it starts itself.
EXTERNAL = (
    "ACC_TEMPORAL_ADDRESS",
    "ACC_TEMPORAL_UI_URL",
    "ACC_KAFKA_BOOTSTRAP",
    "ACC_API_URL",
    "ACC_DATABASE_URL",
    "ACC_DATABASE_SCHEMA",
    "ACC_REDIS_URL",
    "ACC_POOL_URL",
)


def stack_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in child_environment(load_settings()).items() if k not in EXTERNAL}
    env.update(
        ACC_DATA_DIR=str(tmp_path / ".acc"),
        ACC_TEMPORAL_PORT=str(free_port()),
        ACC_TEMPORAL_UI_PORT=str(free_port()),
        ACC_TEMPORAL_METRICS_PORT=str(free_port()),
        ACC_KAFKA_PORT=str(free_port()),
        ACC_API_PORT=str(free_port()),
        ACC_POOL_PORT=str(free_port()),
        ACC_ALERT_INTERNAL_HOSTS="127.0.0.1",  # the notification stand-ins' address
    )
    env.update(extra)
    return env


@contextmanager
def acc_up(tmp: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """`acc up` until it serves (readyz and its state file), stopped with Ctrl-C at the end
    unless a test stopped it already."""
    log = tmp / "acc-up.log"  # a file, not a pipe nobody reads: it could fill and block
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "up"],
            env=env,
            cwd=tmp,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    api = f"http://127.0.0.1:{env['ACC_API_PORT']}"
    deadline = time.monotonic() + 180  # a loaded machine starts eight processes slowly
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            ready = httpx.get(f"{api}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            ready = False
        if ready and (tmp / ".acc" / "stack.json").exists():
            break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("acc up did not become ready")
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
    for part in sorted((tmp / ".acc" / "logs").glob("*.log")):
        # A record the logging machinery could not print is a bug (a secret could hide there).
        assert "--- Logging error ---" not in part.read_text(errors="replace"), part


def api_headers(data_dir: Path) -> dict[str, str]:
    """The local admin key `acc up` made in its data dir, as the API wants it."""
    return {"X-API-Key": (data_dir / "admin.key").read_text().strip()}
