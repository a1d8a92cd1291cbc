"""A scatter-gather of 10,000 jobs against a bare-SDK fan-out of the same shape, in the same
process against the same servers: jobs per second, and the size of the parent's history.

* ours: acc's scatter-gather (one agent, N tasks, collect), started as the API starts it,
  on acc's real workers (`build_workers`): batches of ACC_FAN_OUT_BATCH jobs in child
  workflows, every output in the artifact store, the reducer an activity.
* bare: a parent workflow in this file starting the same number of child workflows, each
  running its share of the jobs as activities at the same concurrency, each activity the
  same subprocess (`true`), the children returning their results inline.

    .venv/bin/python benchmarks/fan_out.py --jobs 10000
    .venv/bin/python benchmarks/fan_out.py --quick      # 400 jobs: a check that it all works

(The pool's event fan-out to WebSocket subscribers is benchmarks/pool_connections.py.)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from _stack import machine_info, servers
    from rich.console import Console
    from rich.table import Table
    from temporalio.client import Client
    from temporalio.worker import Worker

    from core.contracts import WORKFLOW_OF_PATTERN, RunInput, RunState
    from core.specs import parse_spec
    from tests.support.workers import local_settings, running_workers

BATCH, CONCURRENCY = 200, 100


@activity.defn
async def bare_job(task: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        "true", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate(task.encode())
    return out.decode()


@workflow.defn
class BareBatch:
    @workflow.run
    async def run(self, tasks: list[str]) -> list[str]:
        slots = asyncio.Semaphore(CONCURRENCY)

        async def one(task: str) -> str:
            async with slots:
                result: str = await workflow.execute_activity(
                    bare_job, task, start_to_close_timeout=timedelta(seconds=60)
                )
                return result

        return list(await asyncio.gather(*(one(t) for t in tasks)))


@workflow.defn
class BareFanOut:
    @workflow.run
    async def run(self, tasks: list[str]) -> int:
        answers = 0
        for n in range(0, len(tasks), BATCH):
            batch: list[str] = await workflow.execute_child_workflow(
                BareBatch.run, tasks[n : n + BATCH], id=f"{workflow.info().workflow_id}-{n}"
            )
            answers += len(batch)
        return answers


async def history_size(client: Client, workflow_id: str) -> tuple[int, int]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return len(history.events), sum(e.ByteSize() for e in history.events)


async def bench(jobs: int) -> list[tuple[str, float, int, int]]:
    tasks = [f"task {n}" for n in range(jobs)]
    rows = []
    async with contextlib.AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="acc-fan-out-")))
        settings = local_settings(
            tmp,
            stack.enter_context(servers.tansu(tmp / "tansu.log")),
            stack.enter_context(servers.redis_server(tmp)),
            ORCHESTRATION_QUEUE=f"bench-{uuid.uuid4().hex[:8]}",
            FAN_OUT_BATCH=BATCH,
        )
        env = await servers.temporal_dev_server()
        stack.push_async_callback(env.shutdown)
        await stack.enter_async_context(running_workers(env.client, settings))
        bare_queue = f"bare-{uuid.uuid4().hex[:8]}"
        await stack.enter_async_context(
            Worker(
                env.client,
                task_queue=bare_queue,
                workflows=[BareFanOut, BareBatch],
                activities=[bare_job],
                max_concurrent_activities=CONCURRENCY,
            )
        )
        spec = parse_spec(
            {
                "name": "bench-fan-out",
                "pattern": "scatter-gather",
                "tasks": tasks,
                "max_concurrency": CONCURRENCY,
                "agents": [{"name": "job", "agent": {"backend": "shell", "command": ["true"]}}],
            }
        )
        run_id = f"bench-fan-out-{uuid.uuid4().hex[:8]}"
        started = time.perf_counter()
        state = await env.client.execute_workflow(
            WORKFLOW_OF_PATTERN["scatter-gather"],
            RunInput(
                run_id=run_id,
                tenant="t",
                spec=spec,
                agents_queue=settings.agents_queue,
                fan_out_batch=BATCH,
            ),
            id=run_id,
            task_queue=settings.ORCHESTRATION_QUEUE,
            result_type=RunState,
            execution_timeout=timedelta(hours=1),
        )
        assert state.status == "completed", state.error
        rows.append(
            (
                "acc scatter-gather",
                time.perf_counter() - started,
                *await history_size(env.client, run_id),
            )
        )
        bare_id = f"bare-fan-out-{uuid.uuid4().hex[:8]}"
        started = time.perf_counter()
        answers = await env.client.execute_workflow(
            BareFanOut.run, tasks, id=bare_id, task_queue=bare_queue
        )
        assert answers == jobs
        rows.append(
            (
                "bare SDK fan-out",
                time.perf_counter() - started,
                *await history_size(env.client, bare_id),
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs of the fan-out (10000)")
    parser.add_argument("--quick", action="store_true", help="a short check: 400 jobs")
    args = parser.parse_args()
    if args.quick:
        args.jobs = 400
    console = Console()
    info = machine_info()
    console.print(f"acc fan-out benchmark  {info['date']}")
    console.print(f"machine: {info['nproc']} x {info['cpu']}, loadavg {info['loadavg']}")
    rows = asyncio.run(bench(args.jobs))
    table = Table(title=f"{args.jobs} jobs, {BATCH} per child, {CONCURRENCY} at once")
    for column in ("case", "seconds", "jobs/s", "parent events", "parent history KB"):
        table.add_column(column, justify="left" if column == "case" else "right")
    for name, seconds, events, size in rows:
        table.add_row(
            name, f"{seconds:.1f}", f"{args.jobs / seconds:.0f}", str(events), f"{size / 1024:.0f}"
        )
    console.print(table)


if __name__ == "__main__":
    main()
