"""Worker memory per waiting run: acc's worker process beside a bare SDK worker process.

Stack (loopback, nothing mocked): a Temporal dev server (WorkflowEnvironment.start_local with
acc's low-latency flags and search attributes), a Tansu broker (memory storage) on a free
port, and a temp dir. Each case is a worker in its own process, measured alone:

* acc: `python -m cli worker`, configured only through ACC_* variables (the Temporal address,
  the Tansu bootstrap, a SQLite DB and data dir in the temp dir, its own orchestration queue
  and events topic). Each run is a one-step pipeline whose step needs approval
  (`approval: {reason: ...}`): after its first workflow task the run waits for a decision,
  with no activity running, as a run waiting for a person does.
* bare: this file with `--bare-worker`, a minimal temporalio worker process hosting one
  workflow that waits on a condition (wait_condition until a signal), same N.

Per case: start the worker, warm it up with a few waiting runs, read its RSS (VmRSS in
/proc/<pid>/status, median of 3 reads after a settle), start N runs (default 500), wait
until every run's first workflow task is done (describe: history has it, none pending),
check a sample is waiting with the `state` query, settle, read RSS again. MB per waiting
run = growth / N. Runs stay in worker memory because of the sticky workflow cache
(max_cached_workflows, left at its default of 1000 in both workers); past that, the least
recently used runs are evicted and replayed when they next have work. Every run is
terminated and every process stopped at the end. Goal: under 1 MB per waiting run.

    .venv/bin/python benchmarks/waiting_memory.py --runs 500
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from rich.console import Console
    from rich.table import Table
    from temporalio.client import Client
    from temporalio.worker import Worker

# Module level stays light: the sandbox re-executes this file for every bare run.
WARMUP, SAMPLE, PARALLEL = 10, 20, 32


@workflow.defn
class BareWaiting:
    """The baseline: waits for a signal, answers a query, nothing else."""

    def __init__(self) -> None:
        self.approved = False

    @workflow.signal
    def approve(self) -> None:
        self.approved = True

    @workflow.query
    def state(self) -> str:
        return "approved" if self.approved else "waiting"

    @workflow.run
    async def run(self, reason: str) -> str:
        await workflow.wait_condition(lambda: self.approved)
        return reason


async def bare_worker(address: str, queue: str) -> None:
    client = await Client.connect(address)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with Worker(client, task_queue=queue, workflows=[BareWaiting]):
        print("bare worker polling", queue, flush=True)
        await stop.wait()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def settled_rss(pid: int, settle: float) -> float:
    await asyncio.sleep(settle)
    reads = []
    for _ in range(3):
        reads.append(rss_mb(pid))
        await asyncio.sleep(0.5)
    return statistics.median(reads)


async def limited(count: int, make: Any) -> list[Any]:
    """Await make(i) for i in range(count), at most PARALLEL at a time."""
    slots = asyncio.Semaphore(PARALLEL)

    async def one(i: int) -> Any:
        async with slots:
            return await make(i)

    return list(await asyncio.gather(*(one(i) for i in range(count))))


class Case:
    """One worker process and how to start, check and end its runs."""

    def __init__(self, name: str, client: Client, tmp: Path, kafka: str, redis: str) -> None:
        self.name, self.client, self.tmp = name, client, tmp
        suffix = uuid.uuid4().hex[:8]
        self.queue = f"bench-wait-{name}-{suffix}"
        self.log = tmp / f"{name}-worker.log"
        address = client.service_client.config.target_host
        env = {k: v for k, v in os.environ.items() if not k.startswith("ACC_")}
        if name == "acc":
            argv = [sys.executable, "-m", "cli", "worker"]
            env.update(
                ACC_TEMPORAL_ADDRESS=address,
                ACC_KAFKA_BOOTSTRAP=kafka,
                ACC_REDIS_URL=redis,
                ACC_DATA_DIR=str(tmp / ".acc"),
                ACC_DATABASE_URL=f"sqlite:///{tmp}/acc.db",
                ACC_ORCHESTRATION_QUEUE=self.queue,
                ACC_EVENTS_TOPIC=f"bench-{suffix}",
                ACC_LOG_LEVEL="INFO",
            )
        else:
            argv = [sys.executable, __file__, "--bare-worker", address, self.queue]
        repo = Path(__file__).resolve().parent.parent
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv,
                cwd=repo,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.ids: list[str] = []

    async def ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} worker exited:\n{self.log.read_text()[-3000:]}")
            if "worker polling" in self.log.read_text(errors="replace"):
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} worker not polling after {timeout:.0f}s")

    async def start(self, _: int) -> None:
        from temporalio.common import SearchAttributePair, TypedSearchAttributes

        from core import temporal
        from core.contracts import RunInput
        from core.specs import parse_spec
        from workflows.pipeline import PipelineWorkflow

        wf_id = f"bench-wait-{self.name}-{uuid.uuid4().hex[:12]}"
        self.ids.append(wf_id)
        if self.name == "bare":
            await self.client.start_workflow(
                BareWaiting.run, "approval required", id=wf_id, task_queue=self.queue
            )
            return
        spec = parse_spec(
            {
                "name": "bench-waiting",
                "pattern": "pipeline",
                "steps": [
                    {
                        "name": "gated",
                        "agent": {"backend": "shell", "command": ["echo", "ok"]},
                        "approval": {"reason": "benchmark: waits for a decision"},
                    }
                ],
            }
        )
        inp = RunInput(run_id=wf_id, tenant="default", spec=spec, agents_queue=self.queue)
        attrs = TypedSearchAttributes(
            [
                SearchAttributePair(temporal.PATTERN, spec.pattern),
                SearchAttributePair(temporal.TENANT, inp.tenant),
                SearchAttributePair(temporal.RUN_NAME, spec.name),
            ]
        )
        await self.client.start_workflow(
            PipelineWorkflow.run, inp, id=wf_id, task_queue=self.queue, search_attributes=attrs
        )

    async def picked_up(self, ids: list[str], timeout: float = 300) -> None:
        """Until every run's first workflow task has completed and none is pending."""
        pending, deadline = list(ids), time.monotonic() + timeout

        async def done(i: int) -> bool:
            desc = await self.client.get_workflow_handle(pending[i]).describe()
            raw = desc.raw_description
            return desc.history_length >= 4 and not raw.HasField("pending_workflow_task")

        while pending:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(pending)} {self.name} runs not picked up in time")
            flags = await limited(len(pending), done)
            pending = [wf_id for wf_id, ok in zip(pending, flags, strict=True) if not ok]
            if pending:
                await asyncio.sleep(0.5)

    async def waiting(self, wf_id: str) -> bool:
        from workflows.pipeline import PipelineWorkflow

        handle = self.client.get_workflow_handle(wf_id)
        if self.name == "bare":
            return await handle.query(BareWaiting.state) == "waiting"
        state = await handle.query(PipelineWorkflow.state)
        return state.waiting is not None and state.waiting.kind == "approval"

    async def close(self) -> None:
        async def end(i: int) -> None:
            try:
                await self.client.get_workflow_handle(self.ids[i]).terminate("benchmark done")
            except Exception as exc:  # already closed: nothing to clean
                print(f"  terminate {self.ids[i]}: {exc}", file=sys.stderr)

        await limited(len(self.ids), end)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


async def measure(case: Case, runs: int, settle: float) -> dict[str, Any]:
    await case.ready()
    await limited(WARMUP, case.start)  # first runs pay one-time costs (imports, caches)
    await case.picked_up(case.ids)
    before = await settled_rss(case.proc.pid, settle)
    t0 = time.perf_counter()
    await limited(runs, case.start)
    await case.picked_up(case.ids[WARMUP:])
    started_s = time.perf_counter() - t0
    sample = case.ids[WARMUP:][:: -(-runs // SAMPLE)]
    waiting = sum(await asyncio.gather(*(case.waiting(i) for i in sample)))
    if waiting != len(sample):
        raise RuntimeError(f"{case.name}: only {waiting} of {len(sample)} sampled runs wait")
    after = await settled_rss(case.proc.pid, settle)
    print(
        f"  {case.name}: {runs} runs started and picked up in {started_s:.1f}s, "
        f"{waiting}/{len(sample)} sampled runs waiting (state query)",
        flush=True,
    )
    return {
        "case": case.name,
        "runs": runs,
        "before": before,
        "after": after,
        "per_run": (after - before) / runs,
    }


async def bench(args: argparse.Namespace) -> None:
    from _stack import machine_info, servers

    console = Console(soft_wrap=True, width=150)
    info = machine_info()
    console.print(f"[bold]acc worker memory per waiting run[/]  {info['date']}")
    console.print(
        f"machine: {info['nproc']} x {info['cpu']}, Python {info['python']}, "
        f"loadavg {info['loadavg']}"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="acc-waiting-") as tmp_name:
        tmp = Path(tmp_name)
        with servers.tansu(tmp / "tansu.log") as bootstrap, servers.redis_server(tmp) as redis:
            env = await servers.temporal_dev_server()
            try:
                for name in ("acc", "bare"):
                    case = Case(name, env.client, tmp, bootstrap, redis)
                    try:
                        results.append(await measure(case, args.runs, args.settle))
                    finally:
                        await case.close()
            finally:
                await env.shutdown()
    table = Table(
        title=f"Worker RSS per waiting run ({args.runs} runs per case after {WARMUP} "
        "warm-up runs; max_cached_workflows = 1000, the default)"
    )
    for column in (
        "case",
        "runs",
        "RSS before MB",
        "RSS after MB",
        "MB per waiting run",
        "goal < 1 MB",
    ):
        table.add_column(column, justify="left" if column == "case" else "right")
    labels = {"acc": "acc (`python -m cli worker`)", "bare": "bare temporalio worker"}
    for r in results:
        met = "[green]met[/]" if r["per_run"] < 1 else "[red]NOT met[/]"
        table.add_row(
            labels[r["case"]],
            str(r["runs"]),
            f"{r['before']:.1f}",
            f"{r['after']:.1f}",
            f"{r['per_run']:.3f}",
            met,
        )
    console.print(table)
    console.print(f"loadavg at end: {machine_info()['loadavg']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=500, help="waiting runs per case (500)")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds before RSS reads (2)")
    parser.add_argument(
        "--bare-worker",
        nargs=2,
        metavar=("ADDRESS", "QUEUE"),
        help="internal: run the bare baseline worker process",
    )
    args = parser.parse_args()
    if args.bare_worker:
        asyncio.run(bare_worker(*args.bare_worker))
        return 0
    from _stack import restore_sigint

    restore_sigint()
    asyncio.run(bench(args))
    sys.stdout.flush()
    os._exit(0)  # short-lived clients can crash at interpreter exit (known SDK issue)


if __name__ == "__main__":
    sys.exit(main())
