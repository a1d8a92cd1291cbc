"""A simulated scale-out on this machine: a backlog of queued one-step runs served by one
`acc worker` process throughout (the baseline), against the same backlog where a second and
a third worker process join after the first has worked alone for a while, as KEDA would add
them; then the time a draining worker (SIGTERM) takes to hand over, with every run still
completing.

Stack (loopback, nothing mocked): a Temporal dev server with acc's low-latency flags, a
Tansu broker, an embedded redis-server, a SQLite database; workers are real `acc worker`
processes started with the environment a pod would get, each on its own health port. The
step is `true`, a real subprocess. Every case has its own task queue.

    .venv/bin/python benchmarks/scale_out.py --runs 500
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
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
from _stack import machine_info, servers
from rich.console import Console
from rich.table import Table

from core.contracts import WORKFLOW_OF_PATTERN, RunInput, RunState
from core.settings import Settings, child_environment
from core.specs import parse_spec
from tests.support.servers import free_port
from tests.support.workers import local_settings

ACC = Path(sys.executable).parent / "acc"
SPEC = parse_spec(
    {
        "name": "bench-scale",
        "steps": [{"name": "s", "agent": {"backend": "shell", "command": ["true"]}}],
    }
)


@contextlib.contextmanager
def worker(settings: Settings, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """One `acc worker` process, ready (its /readyz) when this yields."""
    port = free_port()
    env = child_environment(settings)
    env.update(ACC_HEALTH_PORT=str(port), ACC_SANDBOX="off", ACC_LOG_LEVEL="WARNING")
    with log.open("ab") as out:
        proc = subprocess.Popen([str(ACC), "worker"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited: {log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            raise RuntimeError("worker never ready")
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


async def enqueue(client: object, settings: Settings, runs: int) -> None:
    """Start `runs` runs; nothing polls their queue yet, so they wait as a backlog."""
    for i in range(0, runs, 50):
        await asyncio.gather(
            *(
                client.start_workflow(  # type: ignore[attr-defined]
                    WORKFLOW_OF_PATTERN["pipeline"],
                    RunInput(
                        run_id=(rid := f"scale-{uuid.uuid4().hex[:12]}"),
                        tenant="t",
                        spec=SPEC,
                        agents_queue=settings.agents_queue,
                    ),
                    id=rid,
                    task_queue=settings.ORCHESTRATION_QUEUE,
                    result_type=RunState,
                )
                for _ in range(min(50, runs - i))
            )
        )


class Progress:
    """Completed runs of one queue over time, sampled from Temporal's visibility (one
    count query every 0.25 s rather than a long poll per run)."""

    def __init__(self, client: object, settings: Settings, runs: int) -> None:
        self.client, self.runs = client, runs
        self.query = (
            f"TaskQueue = '{settings.ORCHESTRATION_QUEUE}' AND ExecutionStatus = 'Completed'"
        )
        self.samples: list[tuple[float, int]] = []
        self.task = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        while True:
            count = await self.client.count_workflows(self.query)  # type: ignore[attr-defined]
            self.samples.append((time.monotonic(), count.count))
            if count.count >= self.runs:
                return
            await asyncio.sleep(0.25)

    def at(self, moment: float) -> int:
        """Completed runs at `moment` (the last sample before it)."""
        return max((n for t, n in self.samples if t <= moment), default=0)

    async def finished(self) -> float:
        await asyncio.wait_for(self.task, 1800)
        return self.samples[-1][0]


def rate(progress: Progress, start: float, end: float) -> tuple[int, float]:
    n = progress.at(end) - progress.at(start)
    return n, n / (end - start) if end > start else 0.0


async def case(
    client: object, settings: Settings, runs: int, join_after: float, join: bool, tmp: Path
) -> dict[str, object]:
    """The backlog served by one worker; with `join`, two more join after `join_after` s.
    Throughput is measured before that moment and after the joiners are ready."""
    await enqueue(client, settings, runs)
    log = tmp / f"{settings.ORCHESTRATION_QUEUE}.log"
    with contextlib.ExitStack() as stack:
        stack.enter_context(worker(settings, log))
        progress = Progress(client, settings, runs)
        start = time.monotonic()
        await asyncio.sleep(join_after)
        split = time.monotonic()
        if join:
            await asyncio.gather(
                *(asyncio.to_thread(stack.enter_context, worker(settings, log)) for _ in range(2))
            )
        ready = time.monotonic()
        end = await progress.finished()
    return {
        "total": end - start,
        "overall": runs / (end - start),
        "before": rate(progress, start, split),
        "after": rate(progress, ready, end),
        "join_seconds": ready - split if join else None,
    }


async def handover(client: object, settings: Settings, runs: int, tmp: Path) -> dict[str, float]:
    """Two workers serve a backlog; one gets SIGTERM mid-way: how long until it has handed
    over (exited, its running activities finished) and whether every run completes."""
    await enqueue(client, settings, runs)
    log = tmp / f"{settings.ORCHESTRATION_QUEUE}.log"
    with worker(settings, log), worker(settings, log) as leaving:
        progress = Progress(client, settings, runs)
        while progress.at(time.monotonic()) < runs // 4:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        sent = time.monotonic()
        leaving.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(leaving.wait, 60)
        exited = time.monotonic()
        await progress.finished()
    return {
        "drain_seconds": exited - sent,
        "exit_code": code,
        "completed": progress.samples[-1][1],
    }


async def bench(
    runs: int, join_after: float
) -> tuple[dict[str, dict[str, object]], dict[str, float]]:
    async with contextlib.AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="acc-scale-")))
        bootstrap = stack.enter_context(servers.tansu(tmp / "tansu.log"))
        redis_url = stack.enter_context(servers.redis_server(tmp))
        env = await servers.temporal_dev_server()
        stack.push_async_callback(env.shutdown)
        address = env.client.service_client.config.target_host

        def settings() -> Settings:
            return local_settings(
                tmp,
                bootstrap,
                redis_url,
                TEMPORAL_ADDRESS=address,
                ORCHESTRATION_QUEUE=f"scale-{uuid.uuid4().hex[:8]}",
                ENVIRONMENT="development",
            )

        results = {
            "1 worker throughout": await case(env.client, settings(), runs, join_after, False, tmp),
            "1 worker, +2 join": await case(env.client, settings(), runs, join_after, True, tmp),
        }
        drained = await handover(env.client, settings(), runs, tmp)
        return results, drained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500, help="queued runs per case (500)")
    parser.add_argument("--join-after", type=float, default=10.0, help="seconds alone (10)")
    args = parser.parse_args()
    console = Console()
    info = machine_info()
    console.print(f"acc scale-out benchmark  {info['date']}")
    console.print(f"machine: {info['nproc']} x {info['cpu']}, loadavg {info['loadavg']}")
    os.environ.setdefault("ACC_SANDBOX", "off")
    results, drained = asyncio.run(bench(args.runs, args.join_after))
    table = Table(title=f"{args.runs} queued one-step runs, runs/s")
    for column in ("case", "first phase", "after the join", "overall", "all done in", "join took"):
        table.add_column(column, justify="left" if column == "case" else "right")
    for name, r in results.items():
        before, after = r["before"], r["after"]
        table.add_row(
            name,
            f"{before[1]:.1f} ({before[0]} runs)",  # type: ignore[index]
            f"{after[1]:.1f} ({after[0]} runs)",  # type: ignore[index]
            f"{r['overall']:.1f}",
            f"{r['total']:.1f} s",
            f"{r['join_seconds']:.1f} s" if r["join_seconds"] is not None else "",
        )
    console.print(table)
    console.print(
        f"drain: a worker given SIGTERM under load exited {drained['exit_code']} after "
        f"{drained['drain_seconds']:.2f} s; {drained['completed']}/{args.runs} runs completed"
    )


if __name__ == "__main__":
    main()
