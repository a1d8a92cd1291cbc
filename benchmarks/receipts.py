"""What durable steps cost: a one-step run with step receipts (the SQL write each step makes
before it reports, so a retry after a lost worker does not run it again) against the same
run without them (ACC_STEP_RECEIPTS=false), in the same process against the same servers.

Stack (loopback, nothing mocked): a Temporal dev server with acc's low-latency flags, a
Tansu broker, an embedded redis-server, a SQLite database (or ACC_DATABASE_URL), and acc's
real workers built by `build_workers` twice, one per case, each on its own task queue. The
step is `true`, a real subprocess. The cases alternate (order swapped every iteration).
Goal: receipts add under 5% at p50.

    .venv/bin/python benchmarks/receipts.py --runs 100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
import uuid
from pathlib import Path

from _stack import machine_info, percentile, servers
from rich.console import Console
from rich.table import Table

from core.contracts import WORKFLOW_OF_PATTERN, RunInput, RunState
from core.settings import Settings
from core.specs import parse_spec
from tests.support.workers import local_settings, running_workers

SPEC = parse_spec(
    {
        "name": "bench-receipts",
        "steps": [{"name": "s", "agent": {"backend": "shell", "command": ["true"]}}],
    }
)


async def once(settings: Settings, client: object) -> float:
    run_id = f"bench-{uuid.uuid4().hex[:12]}"
    inp = RunInput(run_id=run_id, tenant="t", spec=SPEC, agents_queue=settings.agents_queue)
    started = time.perf_counter()
    await client.execute_workflow(  # type: ignore[attr-defined]
        WORKFLOW_OF_PATTERN["pipeline"],
        inp,
        id=run_id,
        task_queue=settings.ORCHESTRATION_QUEUE,
        result_type=RunState,
    )
    return (time.perf_counter() - started) * 1000


async def bench(runs: int, warmup: int) -> dict[str, list[float]]:
    async with contextlib.AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="acc-receipts-")))
        bootstrap = stack.enter_context(servers.tansu(tmp / "tansu.log"))
        redis_url = stack.enter_context(servers.redis_server(tmp))
        env = await servers.temporal_dev_server()
        stack.push_async_callback(env.shutdown)
        cases: dict[str, Settings] = {}
        for name, receipts in (("with receipts", True), ("without receipts", False)):
            settings = local_settings(
                tmp,
                bootstrap,
                redis_url,
                ORCHESTRATION_QUEUE=f"bench-{uuid.uuid4().hex[:8]}",
                STEP_RECEIPTS=receipts,
            )
            await stack.enter_async_context(running_workers(env.client, settings))
            cases[name] = settings
        samples: dict[str, list[float]] = {name: [] for name in cases}
        names = list(cases)
        for i in range(warmup + runs):
            for name in names if i % 2 else reversed(names):
                ms = await once(cases[name], env.client)
                if i >= warmup:
                    samples[name].append(ms)
        return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="measured runs per case (100)")
    parser.add_argument("--warmup", type=int, default=10, help="warm-up runs per case (10)")
    args = parser.parse_args()
    console = Console()
    info = machine_info()
    console.print(f"acc step receipts benchmark  {info['date']}")
    console.print(f"machine: {info['nproc']} x {info['cpu']}, loadavg {info['loadavg']}")
    samples = asyncio.run(bench(args.runs, args.warmup))
    table = Table(title=f"One-step run, start to result, ms ({args.runs} runs per case)")
    for column in ("case", "p50", "p95", "mean"):
        table.add_column(column, justify="right" if column != "case" else "left")
    for name, values in samples.items():
        mean = sum(values) / len(values)
        table.add_row(
            name, f"{percentile(values, 50):.1f}", f"{percentile(values, 95):.1f}", f"{mean:.1f}"
        )
    on, off = samples["with receipts"], samples["without receipts"]
    added = percentile(on, 50) / percentile(off, 50) - 1
    table.add_row(
        "receipts add", f"{added:+.1%}", f"{percentile(on, 95) / percentile(off, 95) - 1:+.1%}", ""
    )
    console.print(table)
    console.print(f"goal under 5% added at p50: {'met' if added < 0.05 else 'NOT met'}")


if __name__ == "__main__":
    main()
