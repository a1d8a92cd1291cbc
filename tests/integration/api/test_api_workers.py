"""`acc api` with ACC_API_WORKERS: worker processes that each listen on the port with a
socket of their own (SO_REUSEPORT), so connections spread over all of them; a worker
killed with -9 is replaced, the workers leave with their supervisor even when it is
killed with -9, a worker whose app cannot start ends the command (no restart loop), and
a port in use is a clear error."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.settings import child_environment, load_settings
from tests.support.servers import free_port, stop, wait_tcp

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


@contextlib.contextmanager
def api(
    tmp_path: Path, port: int, workers: int = 2, **extra: str
) -> Iterator[subprocess.Popen[bytes]]:
    settings = load_settings(
        DATA_DIR=tmp_path / ".acc", DATABASE_URL=None, DATABASE_SCHEMA=None, API_PORT=port
    )
    env = child_environment(settings) | {
        "ACC_API_WORKERS": str(workers),
        "ACC_LOG_LEVEL": "WARNING",
    }
    env.pop("ACC_DATABASE_URL", None)  # the data dir's SQLite file: no shared schema
    env |= extra
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "api"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        yield proc
    finally:
        stop(proc)


def test_workers_listen_each_on_the_port_and_share_the_connections(tmp_path: Path) -> None:
    port = free_port()
    with api(tmp_path, port) as proc:
        workers = _until_workers(proc.pid, port, 2)
        assert len(_sockets("-l", port)) == 2  # a listening socket per worker
        clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}") for _ in range(32)]
        try:
            for client in clients:  # each its own keep-alive connection, held open
                assert client.get("/healthz").status_code == 200
            holders = _sockets("-t", port, "state", "established")
            assert set(holders) == workers, holders  # the kernel spread them over both
        finally:
            for client in clients:
                client.close()


def test_a_killed_worker_is_replaced_and_a_killed_supervisor_takes_its_workers(
    tmp_path: Path,
) -> None:
    port = free_port()
    with api(tmp_path, port) as proc:
        first = _until_workers(proc.pid, port, 2)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        after = _until_workers(proc.pid, port, 2, without=victim)
        assert victim not in after and len(after & first) == 1
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 20
        while any(_alive(pid) for pid in after) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(pid) for pid in after), "workers outlived their supervisor"


def test_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    port = free_port()
    with api(tmp_path, port, workers=1) as first:
        wait_tcp(port, 60)
        with api(tmp_path / "second", port) as second:
            _, err = second.communicate(timeout=60)
            assert second.returncode == 1
            assert f"cannot listen on 127.0.0.1:{port}" in err.decode(), err.decode()
            assert "ACC_API_PORT" in err.decode()
        assert first.poll() is None


def test_workers_that_cannot_start_end_the_command_instead_of_restarting(
    tmp_path: Path,
) -> None:
    port = free_port()
    unreachable = f"postgresql://acc@127.0.0.1:{free_port()}/acc"
    with api(tmp_path, port, ACC_DATABASE_URL=unreachable) as proc:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 3, err.decode()
        assert "an API worker could not start" in err.decode()
        assert "database unreachable" in err.decode()


def _until_workers(parent: int, port: int, count: int, without: int = 0) -> set[int]:
    """The supervisor's worker processes, once `count` of them (none `without`) listen."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        listening = set(_sockets("-l", port))
        children = _children(parent)
        if len(listening) == count and listening <= children and without not in listening:
            return listening
        time.sleep(0.2)
    raise AssertionError(f"no {count} workers listening on {port}: {_children(parent)}")


def _sockets(kind: str, port: int, *state: str) -> list[int]:
    """The pid holding each TCP socket of the local port (`ss`: -l listening, -t with
    `state established` connected)."""
    out = subprocess.run(
        ["ss", "-Hntp", kind, *state, f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [int(pid) for pid in re.findall(r"pid=(\d+)", out)]


def _children(pid: int) -> set[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return set(map(int, out.split()))


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status
