"""Runs lost and steps repeated per N worker kills, and how long each part takes to serve
again after SIGKILL, on a whole stack started by `acc up` (tests/chaos/driver.py).

Runs of all six patterns start throughout; every `--every` seconds the worker is killed
with SIGKILL (and `acc up` restarts it). Afterwards the step log says which steps ran to
completion more than once (repeats: the goal is none), and which were cut short by a kill
and run again (allowed: they never finished). The baseline, in the same run, is the same
workload with no kill: how many steps it runs and how long it takes. Then the API and the
broker are each killed `--part-kills` times, timing their return.

    .venv/bin/python benchmarks/chaos.py --kills 100
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from _stack import ROOT, machine_info, percentile  # noqa: F401  (puts the repo on the path)
from rich.console import Console
from rich.table import Table

from tests.chaos.driver import Outcome, Stack, worker_kills
from tests.support.stack import acc_up, stack_env


def one_stack(kills: int, every: float, part_kills: int) -> tuple[Outcome, dict[str, list[float]]]:
    with tempfile.TemporaryDirectory(prefix="acc-chaos-") as name:
        tmp = Path(name)
        env = stack_env(tmp)
        with acc_up(tmp, env):
            stack = Stack(f"http://127.0.0.1:{env['ACC_API_PORT']}", tmp / ".acc")
            outcome = worker_kills(stack, kills=kills, every=every, seconds=1.0)
            parts: dict[str, list[float]] = {"worker": outcome.recovery_seconds}
            for part in ("api", "kafka") if kills else ():
                parts[part] = []
                for _ in range(part_kills):
                    pid = stack.kill(part)
                    parts[part].append(stack.back(part, pid))
                    time.sleep(6)  # up long enough to count as steady again
    return outcome, parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100, help="worker kills (100)")
    parser.add_argument("--every", type=float, default=6.0, help="seconds between kills (6)")
    parser.add_argument("--part-kills", type=int, default=10, help="API and broker kills (10)")
    args = parser.parse_args()
    console = Console(width=150)
    info = machine_info()
    console.print(f"acc chaos benchmark  {info['date']}")
    console.print(f"machine: {info['nproc']} x {info['cpu']}, loadavg {info['loadavg']}")
    started = time.monotonic()
    calm, _ = one_stack(0, args.every, 0)
    calm_seconds = time.monotonic() - started
    started = time.monotonic()
    chaos, parts = one_stack(args.kills, args.every, args.part_kills)
    chaos_seconds = time.monotonic() - started
    table = Table(title="Runs of every pattern under worker kills (SIGKILL)")
    for column in (
        "case",
        "kills",
        "runs",
        "lost",
        "steps finished",
        "repeated",
        "finished, unrecorded, rerun",
        "cut short, rerun",
        "seconds",
    ):
        table.add_column(column, justify="left" if column == "case" else "right")
    for label, o, seconds in (
        ("no kills (baseline)", calm, calm_seconds),
        ("worker killed", chaos, chaos_seconds),
    ):
        table.add_row(
            label,
            str(o.kills),
            str(o.runs),
            str(o.runs - o.completed),
            str(o.steps_finished),
            str(len(o.steps_repeated)),
            str(len(o.steps_unrecorded)),
            str(o.steps_interrupted),
            f"{seconds:.0f}",
        )
    console.print(table)
    recovery = Table(title="Seconds from SIGKILL to serving again (acc up restarts the part)")
    for column in ("part", "kills", "p50", "p95", "max", "what counts as serving"):
        recovery.add_column(
            column, justify="left" if column in ("part", "what counts as serving") else "right"
        )
    what = {
        "worker": "its log says it polls",
        "api": "/readyz is 200",
        "kafka": "the broker takes connections",
    }
    for part, values in parts.items():
        recovery.add_row(
            part,
            str(len(values)),
            f"{statistics.median(values):.2f}",
            f"{percentile(values, 95):.2f}",
            f"{max(values):.2f}",
            what[part],
        )
    console.print(recovery)
    if chaos.not_completed:
        console.print(f"not completed: {chaos.not_completed}")
    if chaos.steps_repeated:
        console.print(f"repeated: {chaos.steps_repeated}")


if __name__ == "__main__":
    main()
