"""Orchestration overhead per coordination pattern, beside a hand-written bare-SDK workflow
of the same shape, in the same process against the same Temporal server.

Stack (loopback, nothing mocked): a Temporal dev server (start_local with acc's low-latency
flags and search attributes), a Tansu broker (memory storage) on a free port, a SQLite
artifact DB in a temp dir, acc's real workers (build_workers, started EventBus,
ArtifactStore) in this process. Agents are shell commands (`echo`/`true`, real subprocesses).
Shapes: pipeline (3 steps); scatter-gather (3 agents x 1 task, collect); consensus (3
participants propose, vote once); saga (3 steps with compensations, success); supervisor
(manager, 2 workers as parallel child workflows, reviewer passes the gate).

* ours: the pattern's workflow started as the API starts it (RunInput, workflow id = run
  id, acc's search attributes) on acc's orchestration queue.
* bare: a workflow in this file with the same activity calls at the same concurrency
  (child workflows for the supervisor's workers); its activity runs the same argv with
  asyncio.create_subprocess_exec. No acc code; own worker and task queue.

Timed around client.execute_workflow (start to result); after warm-up the cases alternate
(order swapped every iteration), patterns interleaved. One workflow runs at a time, so the
CPU this process (workers + client) and the server use meanwhile is charged to it. One
history per pattern and case (children included) is counted by event type.
acc's workers are built by `build_workers`, exactly as `acc worker` builds them. Goal: ours
<= 1.1x bare at p50 and p95.

    .venv/bin/python benchmarks/patterns.py --runs 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from _stack import _proc_table, machine_info, percentile, restore_sigint, servers
    from rich.console import Console
    from rich.table import Table
    from temporalio.api.enums.v1 import EventType
    from temporalio.client import Client
    from temporalio.common import SearchAttributePair, TypedSearchAttributes
    from temporalio.worker import Worker

    from core import temporal
    from core.contracts import WORKFLOW_OF_PATTERN, RunInput, RunState
    from core.settings import Settings
    from core.specs import parse_spec
    from tests.support.workers import local_settings, running_workers

STEP_TIMEOUT = 30
START_TO_CLOSE = timedelta(seconds=STEP_TIMEOUT + 15)  # acc: step timeout + 15 s grace
ONCE = RetryPolicy(maximum_attempts=1)  # acc's default retry spec
STEP, VOTE, SCORE, UNDO = ["echo", "ok"], ["echo", "p1"], ["echo", "1.0"], ["true"]
PLAN = ["echo", '{"subtasks": ["write part a", "write part b"]}']
CLK = os.sysconf("SC_CLK_TCK")
E = EventType
COUNTED = {
    E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED: "wft",
    E.EVENT_TYPE_MARKER_RECORDED: "markers",
    E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "activities",
    E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: "upserts",
}


def step(name: str, argv: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "timeout_seconds": STEP_TIMEOUT,
        "agent": {"backend": "shell", "command": argv},
    }


SPECS: dict[str, dict[str, Any]] = {
    "pipeline": {"steps": [step(f"s{i}", STEP) for i in (1, 2, 3)]},
    "scatter-gather": {"agents": [step(f"a{i}", STEP) for i in (1, 2, 3)], "reducer": "collect"},
    "consensus": {
        "max_rounds": 1,
        "participants": [
            {"name": f"p{i}", "propose": step("propose", STEP), "vote": step("vote", VOTE)}
            for i in (1, 2, 3)
        ],
    },
    "saga": {
        "steps": [{**step(f"s{i}", STEP), "compensate": step(f"undo{i}", UNDO)} for i in (1, 2, 3)]
    },
    "supervisor": {
        "manager": step("manager", PLAN),
        "workers": {"default": step("worker", STEP)},
        "reviewer": step("reviewer", SCORE),
        "max_iterations": 1,
    },
}


@activity.defn
async def run_command(argv: list[str], stdin: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(stdin.encode())
    if proc.returncode:
        raise ApplicationError(f"{argv[0]} exited with {proc.returncode}: {err.decode()}")
    return out.decode()


async def call(argv: list[str], stdin: str) -> str:
    return await workflow.execute_activity(
        run_command, args=[argv, stdin], start_to_close_timeout=START_TO_CLOSE, retry_policy=ONCE
    )


@workflow.defn
class BarePipeline:
    @workflow.run
    async def run(self, text: str) -> str:
        for _ in range(3):
            text = await call(STEP, text)
        return text


@workflow.defn
class BareScatterGather:
    @workflow.run
    async def run(self, task: str) -> str:
        return json.dumps(await asyncio.gather(*(call(STEP, task) for _ in range(3))))


@workflow.defn
class BareConsensus:
    @workflow.run
    async def run(self, task: str) -> str:
        proposals = await asyncio.gather(*(call(STEP, task) for _ in range(3)))
        ballot = json.dumps({"task": task, "proposals": proposals})
        votes = await asyncio.gather(*(call(VOTE, ballot) for _ in range(3)))
        winner, count = Counter(v.strip() for v in votes).most_common(1)[0]
        return winner if count * 2 > len(votes) else "no agreement"


@workflow.defn
class BareSaga:
    @workflow.run
    async def run(self, text: str) -> str:
        done: list[str] = []
        try:
            for _ in range(3):
                text = await call(STEP, text)
                done.append(text)
        except ActivityError:
            for output in reversed(done):
                await call(UNDO, output)
            raise
        return text


@workflow.defn
class BareWorker:
    @workflow.run
    async def run(self, task: str) -> str:
        return await call(STEP, task)


@workflow.defn
class BareSupervisor:
    @workflow.run
    async def run(self, brief: str) -> str:
        subtasks = json.loads(await call(PLAN, brief))["subtasks"]
        parent = workflow.info().workflow_id
        answers = await asyncio.gather(
            *(
                workflow.execute_child_workflow(BareWorker.run, task, id=f"{parent}.w{n}")
                for n, task in enumerate(subtasks)
            )
        )
        combined = "\n\n".join(a.strip() for a in answers)
        if float(await call(SCORE, combined)) < 0.7:
            raise ApplicationError("quality gate not passed", non_retryable=True)
        return combined


BARE: dict[str, Any] = {
    "pipeline": BarePipeline,
    "scatter-gather": BareScatterGather,
    "consensus": BareConsensus,
    "saga": BareSaga,
    "supervisor": BareSupervisor,
}


def server_pid() -> int:
    """The dev server start_local launched: a child of this process running start-dev."""
    return next(
        pid
        for pid, _, ppid, _ in _proc_table()
        if ppid == os.getpid() and b"start-dev" in Path(f"/proc/{pid}/cmdline").read_bytes()
    )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK  # utime + stime


async def once(
    client: Client, settings: Settings, bare_queue: str, pattern: str, case: str, server: int
) -> dict[str, Any]:
    wf_id = f"bench-{pattern}-{case}-{uuid.uuid4().hex[:12]}"
    if case == "ours":
        spec = parse_spec(
            {"name": f"bench-{pattern}", "pattern": pattern, "input": "bench", **SPECS[pattern]}
        )
        inp = RunInput(
            run_id=wf_id, tenant=settings.TENANT, spec=spec, agents_queue=settings.agents_queue
        )
        attrs = TypedSearchAttributes(
            [
                SearchAttributePair(temporal.PATTERN, pattern),
                SearchAttributePair(temporal.TENANT, inp.tenant),
                SearchAttributePair(temporal.RUN_NAME, spec.name),
            ]
        )
        coro = client.execute_workflow(
            WORKFLOW_OF_PATTERN[pattern],
            inp,
            id=wf_id,
            task_queue=settings.ORCHESTRATION_QUEUE,
            search_attributes=attrs,
        )
    else:
        coro = client.execute_workflow(BARE[pattern].run, "bench", id=wf_id, task_queue=bare_queue)
    t0, c0, s0 = time.perf_counter(), time.process_time(), cpu_seconds(server)
    result = await asyncio.wait_for(coro, 60)
    t1, c1, s1 = time.perf_counter(), time.process_time(), cpu_seconds(server)
    if isinstance(result, RunState) and result.status != "completed":
        raise RuntimeError(f"{wf_id} ended {result.status}: {result.error}")
    return {"id": wf_id, "ms": (t1 - t0) * 1e3, "cpu": (c1 - c0) * 1e3, "server": (s1 - s0) * 1e3}


async def anatomy(client: Client, wf_id: str) -> Counter[str]:
    """Event counts and bytes of one history, its child workflows' histories included."""
    history = await client.get_workflow_handle(wf_id).fetch_history()
    counts: Counter[str] = Counter(histories=1)
    for event in history.events:
        counts.update(events=1, bytes=event.ByteSize(), **{COUNTED.get(event.event_type, "-"): 1})
        if event.event_type == E.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
            attrs = event.child_workflow_execution_started_event_attributes
            counts += await anatomy(client, attrs.workflow_execution.workflow_id)
    return counts


async def bench(args: argparse.Namespace, console: Console) -> None:
    info = machine_info()
    console.print(f"[bold]acc pattern overhead benchmark[/]  {info['date']}")
    console.print(
        f"machine: {info['nproc']} x {info['cpu']}, Python {info['python']}, "
        f"loadavg {info['loadavg']}"
    )
    patterns = args.patterns or list(SPECS)
    samples: dict[tuple[str, str], list[dict[str, Any]]] = {
        (p, c): [] for p in patterns for c in ("ours", "bare")
    }
    async with contextlib.AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="acc-patterns-")))
        bootstrap = stack.enter_context(servers.tansu(tmp / "tansu.log"))
        redis_url = stack.enter_context(servers.redis_server(tmp))
        env = await servers.temporal_dev_server()
        stack.push_async_callback(env.shutdown)
        client, server = env.client, server_pid()
        suffix = uuid.uuid4().hex[:8]
        settings = local_settings(
            tmp,
            bootstrap,
            redis_url,
            ORCHESTRATION_QUEUE=f"bench-orch-{suffix}",
            EVENTS_TOPIC=f"bench-events-{suffix}",
        )
        await stack.enter_async_context(running_workers(client, settings))
        bare_queue = f"bench-bare-{suffix}"
        bare = Worker(
            client,
            task_queue=bare_queue,
            workflows=[*BARE.values(), BareWorker],
            activities=[run_command],
            max_concurrent_activities=100,
        )
        await stack.enter_async_context(bare)
        address = client.service_client.config.target_host
        console.print(
            f"Temporal {address} (pid {server}), Tansu {settings.kafka_bootstrap}, "
            "acc's and the bare workers in-process"
        )
        total = args.warmup + args.runs
        for i in range(total):
            for pattern in patterns:
                for case in ("ours", "bare") if i % 2 == 0 else ("bare", "ours"):
                    sample = await once(client, settings, bare_queue, pattern, case, server)
                    if i >= args.warmup:
                        samples[(pattern, case)].append(sample)
            if (i + 1) % 10 == 0 or i + 1 == total:
                console.print(f"  {i + 1}/{total} iterations")
        shapes = {key: await anatomy(client, runs[0]["id"]) for key, runs in samples.items()}
    report(args, console, patterns, samples, shapes)


def report(
    args: argparse.Namespace,
    console: Console,
    patterns: list[str],
    samples: dict[tuple[str, str], list[dict[str, Any]]],
    shapes: dict[tuple[str, str], Counter[str]],
) -> None:
    table = Table(
        title=f"Start to result, ms ({args.runs} runs per case after {args.warmup} "
        "warm-up, interleaved)"
    )
    for column in (
        "pattern",
        "ours p50",
        "ours p95",
        "bare p50",
        "bare p95",
        "ratio p50",
        "ratio p95",
        "goal <= 1.1x",
    ):
        table.add_column(column, justify="left" if column == "pattern" else "right")
    for p in patterns:
        ours, bare = ([s["ms"] for s in samples[(p, c)]] for c in ("ours", "bare"))
        ms = [percentile(v, q) for v in (ours, bare) for q in (50, 95)]
        r50, r95 = ms[0] / ms[2], ms[1] / ms[3]
        met = "[green]met[/]" if max(r50, r95) <= 1.1 else "[red]NOT met[/]"
        table.add_row(p, *(f"{c:.1f}" for c in ms), f"{r50:.2f}x", f"{r95:.2f}x", met)
    console.print(table)
    detail = Table(
        title="What acc adds per run: ours / bare (one history each, children "
        "included; CPU = mean ms per run)"
    )
    for column in (
        "pattern",
        "histories",
        "events",
        "workflow tasks",
        "activities",
        "markers (local act.)",
        "SA upserts",
        "history KB",
        "worker CPU",
        "server CPU",
    ):
        detail.add_column(column, justify="left" if column == "pattern" else "right")
    for p in patterns:
        o, b = shapes[(p, "ours")], shapes[(p, "bare")]
        cells = [
            f"{o[k]} / {b[k]}"
            for k in ("histories", "events", "wft", "activities", "markers", "upserts")
        ]
        cells.append(f"{o['bytes'] / 1024:.1f} / {b['bytes'] / 1024:.1f}")
        for key in ("cpu", "server"):
            mean = [statistics.fmean(s[key] for s in samples[(p, c)]) for c in ("ours", "bare")]
            cells.append(f"{mean[0]:.1f} / {mean[1]:.1f}")
        detail.add_row(p, *cells)
    console.print(detail)
    console.print(f"loadavg at end: {machine_info()['loadavg']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="measured runs per case (30)")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up runs per case (3)")
    parser.add_argument("--patterns", nargs="+", choices=list(SPECS), help="default: all five")
    args = parser.parse_args()
    restore_sigint()
    asyncio.run(bench(args, Console(soft_wrap=True, width=150)))
    sys.stdout.flush()
    os._exit(0)  # short-lived clients can crash at interpreter exit (known SDK issue)


if __name__ == "__main__":
    sys.exit(main())
