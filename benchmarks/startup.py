"""Startup time of `acc up`, beside a bare Temporal dev server as the baseline.

What is measured, per run (each in a fresh temp directory, every port moved to a free
loopback port, all inherited ACC_* variables dropped):

* acc up: from launching `python -m cli up` as a subprocess until its stdout has printed
  "acc is up" AND GET http://127.0.0.1:<api port>/readyz returns 200. The stack is then
  stopped with SIGINT to `acc up`; the benchmark waits for it to exit and checks that no
  process it started (the pids in `<data dir>/stack.json` "parts", their process groups,
  or any child of `acc up`) is still alive.
* acc up (self-reported): the "acc is up in X s" figure `acc up` prints itself, which
  starts after its Python imports and settings.
* temporal alone: from launching `temporal server start-dev` with exactly the flags
  `acc up` uses (taken from cli.stack.plan()) until a temporalio Client connects and
  `service_client.check_health()` succeeds.

The two cases alternate (and swap order each run) so machine noise hits both alike.

    .venv/bin/python benchmarks/startup.py --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from _stack import AccStack, free_ports, machine_info, percentile, restore_sigint, temporal_argv
from rich.console import Console
from rich.table import Table
from temporalio.client import Client

console = Console(soft_wrap=True)


async def _wait_temporal(address: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    last: Exception | None = None
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"temporal exited with code {proc.returncode}")
        try:
            client = await Client.connect(address, namespace="default")
            await client.service_client.check_health(timeout=timedelta(seconds=2))
            return
        except Exception as exc:  # refused while it boots
            last = exc
            await asyncio.sleep(0.01)
    raise RuntimeError(f"temporal not healthy after {timeout:.0f}s: {last}")


def time_temporal_alone(timeout: float = 60.0) -> float:
    """Seconds from launching the dev server until a client's health check passes."""
    with tempfile.TemporaryDirectory(prefix="acc-bench-temporal-") as tmp:
        data_dir = Path(tmp) / ".acc"
        data_dir.mkdir()
        names = ("ACC_TEMPORAL_PORT", "ACC_TEMPORAL_UI_PORT", "ACC_TEMPORAL_METRICS_PORT")
        ports = dict(zip(names, free_ports(len(names)), strict=True))
        argv = temporal_argv(data_dir, ports)
        with (data_dir / "temporal.log").open("wb") as log:
            started = time.perf_counter()
            proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                asyncio.run(
                    _wait_temporal(f"127.0.0.1:{ports['ACC_TEMPORAL_PORT']}", proc, timeout)
                )
                return time.perf_counter() - started
            finally:
                _stop_group(proc)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def time_acc_up(verbose: bool) -> tuple[float, float | None, float, list[int]]:
    """(seconds to ready, self-reported seconds, seconds to stop, leftover pids)."""
    with AccStack(log_output=verbose) as stack:
        elapsed = stack.start()
        reported = stack.reported_s
        parts = len(stack.part_pids)
        stop_s, left = stack.stop()
    if parts == 0:
        raise RuntimeError("stack.json listed no parts")
    return elapsed, reported, stop_s, left


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each case (default 5)")
    parser.add_argument("--verbose", action="store_true", help="echo `acc up` output")
    args = parser.parse_args()
    restore_sigint()

    info = machine_info()
    console.print(f"[bold]acc startup benchmark[/]  {info['date']}")
    console.print(
        f"machine: {info['nproc']} x {info['cpu']}, Python {info['python']}, "
        f"loadavg {info['loadavg']}"
    )
    results: dict[str, list[float]] = {
        "acc up (full stack)": [],
        "acc up (self-reported)": [],
        "temporal start-dev alone": [],
        "acc up stop (SIGINT to exit)": [],
    }
    leaks: list[int] = []
    for run in range(args.runs):
        order = ["temporal", "acc"] if run % 2 == 0 else ["acc", "temporal"]
        for case in order:
            if case == "temporal":
                seconds = time_temporal_alone()
                results["temporal start-dev alone"].append(seconds)
                console.print(f"run {run + 1}: temporal alone {seconds:.2f}s")
            else:
                seconds, reported, stop_s, left = time_acc_up(args.verbose)
                results["acc up (full stack)"].append(seconds)
                if reported is not None:
                    results["acc up (self-reported)"].append(reported)
                results["acc up stop (SIGINT to exit)"].append(stop_s)
                leaks += left
                console.print(
                    f"run {run + 1}: acc up {seconds:.2f}s (reports {reported}s), "
                    f"stopped in {stop_s:.2f}s, leftover pids: {left or 'none'}"
                )

    table = Table(title=f"Startup time, seconds ({args.runs} runs)")
    for column in ("case", "runs", "min", "p50", "max"):
        table.add_column(column, justify="left" if column == "case" else "right")
    for case, values in results.items():
        if values:
            table.add_row(
                case,
                str(len(values)),
                f"{min(values):.2f}",
                f"{percentile(values, 50):.2f}",
                f"{max(values):.2f}",
            )
    console.print(table)
    full, bare = results["acc up (full stack)"], results["temporal start-dev alone"]
    console.print(
        f"full stack / temporal alone (p50): {percentile(full, 50) / percentile(bare, 50):.1f}x"
    )
    if leaks:
        console.print(f"[red]processes left running after stop: {leaks}[/]")
        return 1
    console.print("no process left running after any stop")
    return 0


if __name__ == "__main__":
    sys.exit(main())
