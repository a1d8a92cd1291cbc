"""Shared helpers for the benchmarks: free loopback ports, an `acc up` subprocess that can
be started, timed and stopped (with a check that nothing it started is left running),
the bare Temporal dev server command line, machine info and percentiles."""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the local servers' helpers live with the tests

from tests.support import servers  # noqa: E402, F401  (the benchmarks start servers with it)
from tests.support.servers import HOST, free_ports  # noqa: E402

PORT_SETTINGS = (
    "ACC_TEMPORAL_PORT",
    "ACC_TEMPORAL_UI_PORT",
    "ACC_TEMPORAL_METRICS_PORT",
    "ACC_KAFKA_PORT",
    "ACC_API_PORT",
    "ACC_POOL_PORT",
)
UP_LINE = re.compile(r"acc is up(?: in ([\d.]+)s)?")


def machine_info() -> dict[str, str]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def percentile(values: list[float], pct: float) -> float:
    """Linear-interpolated percentile (pct in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def temporal_argv(data_dir: Path, ports: dict[str, int]) -> list[str]:
    """The exact `temporal server start-dev` command `acc up` would run, from cli.stack.plan()."""
    from cli import stack
    from core.settings import load_settings

    settings = load_settings(
        DATA_DIR=data_dir,
        TEMPORAL_ADDRESS=None,
        KAFKA_BOOTSTRAP=None,
        REDIS_URL=None,
        **{name.removeprefix("ACC_"): port for name, port in ports.items()},
    )
    return next(p.argv for p in stack.plan(settings) if p.name == "temporal")


def _proc_table() -> list[tuple[int, str, int, int]]:
    """(pid, state, ppid, pgrp) of every process, from /proc."""
    rows = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            rows.append((int(entry.name), fields[0], int(fields[1]), int(fields[2])))
    return rows


def leftovers(root: int, part_pids: list[int]) -> list[int]:
    """Live (non-zombie) processes that are a listed part, in a part's process group, or a
    child of `root`."""
    groups = {root, *part_pids}
    return [
        pid
        for pid, state, ppid, pgrp in _proc_table()
        if state != "Z" and (pid in groups or pgrp in groups or ppid == root)
    ]


def restore_sigint() -> None:
    """Undo an inherited SIG_IGN for SIGINT (a `cmd &` background job has one). Ignored
    signals survive exec, so acc up would never see the SIGINT that stops it; a Python
    handler resets to the default in children. Call before asyncio.run, so that asyncio
    installs its own handler (cancel the main task) and cleanup runs."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def kill(pids: list[int], group: bool = False) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            (os.killpg if group else os.kill)(pid, signal.SIGKILL)


class AccStack:
    """`acc up` as a subprocess in a fresh temp dir with every port moved to a free one."""

    def __init__(self, log_output: bool = False) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="acc-bench-")
        self.workdir = Path(self.tmp.name)
        self.data_dir = self.workdir / ".acc"
        self.ports = dict(zip(PORT_SETTINGS, free_ports(len(PORT_SETTINGS)), strict=True))
        self.api_url = f"http://{HOST}:{self.ports['ACC_API_PORT']}"
        self.temporal_address = f"{HOST}:{self.ports['ACC_TEMPORAL_PORT']}"
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self.up_at: float | None = None  # perf_counter when "acc is up" was read
        self.reported_s: float | None = None  # the "in X s" that acc up prints itself
        self.part_pids: list[int] = []
        self._up = threading.Event()
        self._log_output = log_output

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ACC_")}
        env.update({k: str(v) for k, v in self.ports.items()}, ACC_DATA_DIR=str(self.data_dir))
        env.update(COLUMNS="200", NO_COLOR="1")
        return env

    def start(self, timeout: float = 120.0) -> float:
        """Launch `acc up`; return seconds until it printed "acc is up" and /readyz is 200."""
        restore_sigint()
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "up"],
            cwd=self.workdir,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read_output, daemon=True).start()
        deadline = started + timeout
        with httpx.Client(timeout=2.0) as http:
            while time.perf_counter() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"acc up exited with {self.proc.returncode}:\n{self.tail()}")
                if self._up.wait(0.01):
                    if _ready(http, f"{self.api_url}/readyz"):
                        elapsed = time.perf_counter() - started
                        self.part_pids = self._read_parts()
                        return elapsed
                    time.sleep(0.01)
        raise RuntimeError(f"acc up not ready after {timeout:.0f}s:\n{self.tail()}")

    def _read_output(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if self._log_output:
                print(f"  [acc up] {line.rstrip()}", file=sys.stderr)
            if not self._up.is_set() and (match := UP_LINE.search(line)):
                self.up_at = time.perf_counter()
                self.reported_s = float(match.group(1)) if match.group(1) else None
                self._up.set()

    def _read_parts(self) -> list[int]:
        state = json.loads((self.data_dir / "stack.json").read_text())
        return [pid for pid in state.get("parts", {}).values() if isinstance(pid, int)]

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.lines[-lines:])

    def stop(self, timeout: float = 60.0) -> tuple[float, list[int]]:
        """SIGINT `acc up`, wait for it; return (seconds, pids still alive afterwards).
        Whatever survives is SIGKILLed so a failed stop never leaks processes."""
        if self.proc is None:
            return 0.0, []
        # Parts not yet in stack.json (a failed start) are still direct children of acc up.
        root = self.proc.pid
        self.part_pids += [
            pid for pid, _, ppid, _ in _proc_table() if ppid == root and pid not in self.part_pids
        ]
        began = time.perf_counter()
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            print(f"acc up ignored SIGINT for {timeout:.0f}s; killing it", file=sys.stderr)
            kill([self.proc.pid, *self.part_pids], group=True)
            self.proc.wait(5)
        elapsed = time.perf_counter() - began
        time.sleep(0.05)  # let init reap what acc up left behind, if anything
        left = leftovers(self.proc.pid, self.part_pids)
        kill(left)
        self.proc = None
        return elapsed, left

    def close(self) -> None:
        try:
            self.stop()
        finally:
            self.tmp.cleanup()

    def __enter__(self) -> AccStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ready(http: httpx.Client, url: str) -> bool:
    try:
        return http.get(url).status_code == 200
    except httpx.HTTPError:
        return False
