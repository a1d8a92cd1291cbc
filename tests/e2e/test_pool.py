"""The remote-agents example on the whole stack as a user runs it: `acc up` (one pool
node), a second `acc pool` node, an `acc agent connect` on each, `acc agents` listing
both, and `acc run` following the run through the pool."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.servers import free_port
from tests.support.stack import acc_up, api_headers, stack_env

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "remote-agents.yaml"


@contextlib.contextmanager
def background(
    argv: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", *argv], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _until(check: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if check():  # type: ignore[operator]
                return
        time.sleep(0.2)
    pytest.fail(f"{what} did not happen in {timeout:.0f}s")


def test_the_remote_agents_example_runs_on_agents_of_two_pool_nodes(tmp_path: Path) -> None:
    env = stack_env(tmp_path)
    second = {**env, "ACC_POOL_PORT": str(free_port()), "ACC_POOL_NODE_ID": "node-b"}
    first_url = f"ws://127.0.0.1:{env['ACC_POOL_PORT']}"
    second_url = f"ws://127.0.0.1:{second['ACC_POOL_PORT']}"
    api = f"http://127.0.0.1:{env['ACC_API_PORT']}"
    with acc_up(tmp_path, env), background(["pool"], second, tmp_path / "node-b.log"):
        _until(
            lambda: httpx.get(second_url.replace("ws", "http") + "/readyz").status_code == 200,
            "the second pool node serving",
            timeout=240,  # processes import slowly on a loaded 2-core machine
        )
        shout = ["agent", "connect", "-c", "shout", "--command", "tr a-z A-Z", "--id", "shouter"]
        count = ["agent", "connect", "-c", "count", "--command", "wc -w", "--id", "counter"]
        with (
            background([*shout, "--url", first_url], env, tmp_path / "shout.log"),
            background([*count, "--url", second_url], env, tmp_path / "count.log"),
        ):
            headers = api_headers(tmp_path / ".acc")

            def both_connected() -> bool:
                pool = httpx.get(f"{api}/v1/agents/connected", headers=headers).json()
                return len(pool["agents"]) == 2

            _until(both_connected, "both agents connecting", timeout=240)
            listed = subprocess.run(
                [sys.executable, "-m", "cli", "agents"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            ran = subprocess.run(
                [sys.executable, "-m", "cli", "run", str(EXAMPLE)],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
    assert listed.returncode == 0, listed.stderr
    assert "shouter" in listed.stdout and "counter" in listed.stdout
    assert "node-b" in listed.stdout and "2 node(s)" in listed.stdout
    assert ran.returncode == 0, ran.stdout + ran.stderr
    lines = ran.stdout.splitlines()
    done = next(i for i, line in enumerate(lines) if "Run completed." in line)
    assert lines[done + 1].strip() == "5"  # words of the shouted input, counted on node-b
    for agent in ("shout", "count"):
        log = (tmp_path / f"{agent}.log").read_text()
        assert "connected as" in log and "result:" in log, log
