"""Start-to-result latency of a one-step run through the acc API, beside bare Temporal.

Both cases run in the same process against the SAME Temporal dev server, the one that
`acc up` starts (launched as a subprocess in a temp dir, every port moved to a free
loopback port, all inherited ACC_* variables dropped):

* ours: POST /v1/runs with a one-step pipeline whose step is the shell agent
  `echo hello`, then GET /v1/runs/{id}?wait=30 until the run is completed; timed from
  before the POST to after the final GET, over one keep-alive httpx.Client.
* bare: a minimal workflow with one activity that runs `echo hello` with
  asyncio.create_subprocess_exec and returns its stdout, served by an in-process
  temporalio Worker on a unique task queue; timed around client.execute_workflow().

After a few warm-up runs of each, the cases alternate (swapping which goes first every
iteration) so machine noise hits both alike. Afterwards each workflow's history is read
to split the latency into server-side phases. Goal: ours under 1.3x bare at p50 and p95.

    .venv/bin/python benchmarks/run_latency.py --runs 100 --json /tmp/latency.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    import httpx
    from _stack import AccStack, machine_info, percentile, restore_sigint
    from rich.console import Console
    from rich.table import Table
    from temporalio.api.enums.v1 import EventType
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.worker import Worker

    from tests.support.stack import api_headers

STEP_TIMEOUT_SECONDS = 30
# Same shape as the pipeline's activity: step timeout plus its 15 s grace.
START_TO_CLOSE = timedelta(seconds=STEP_TIMEOUT_SECONDS + 15)
SPEC = {
    "name": "bench-latency",
    "pattern": "pipeline",
    "steps": [
        {
            "name": "hello",
            "agent": {"backend": "shell", "command": ["echo", "hello"]},
            "timeout_seconds": STEP_TIMEOUT_SECONDS,
        }
    ],
}
E = EventType
MILESTONES = {
    E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: "start",
    E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "scheduled",
    E.EVENT_TYPE_ACTIVITY_TASK_STARTED: "act_started",
    E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "act_completed",
    E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: "end",
}
PHASES = {  # label: (from milestone, to milestone), all from the workflow history
    "server: wf started -> activity scheduled": ("start", "scheduled"),
    "server: activity scheduled -> started": ("scheduled", "act_started"),
    "server: activity started -> completed": ("act_started", "act_completed"),
    "server: activity completed -> wf completed": ("act_completed", "end"),
    "server: wf started -> wf completed": ("start", "end"),
}
console = Console(soft_wrap=True)


@activity.defn
async def echo_hello() -> str:
    proc = await asyncio.create_subprocess_exec(
        "echo", "hello", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    return out.decode()


@workflow.defn
class BareWorkflow:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(echo_hello, start_to_close_timeout=START_TO_CLOSE)


def ours_sync_once(http: httpx.Client) -> dict[str, float | str]:
    """One run through the API in one request (POST /v1/runs?wait=30); times in ms."""
    t0 = time.perf_counter()
    resp = http.post("/v1/runs", json=SPEC, params={"wait": 30})
    resp.raise_for_status()
    view = resp.json()
    t1 = time.perf_counter()
    if view["status"] != "completed" or (view.get("output") or "").strip() != "hello":
        raise RuntimeError(f"run {view['id']} ended {view['status']}: {view.get('error')}")
    return {"id": view["id"], "total": (t1 - t0) * 1e3, "client: POST ?wait=30": (t1 - t0) * 1e3}


def ours_once(http: httpx.Client) -> dict[str, float | str]:
    """One run through the API: POST, then GET ?wait=30 until it ends; times in ms."""
    t0 = time.perf_counter()
    accepted = http.post("/v1/runs", json=SPEC)
    accepted.raise_for_status()
    run_id = accepted.json()["id"]
    t1 = time.perf_counter()
    while True:
        resp = http.get(f"/v1/runs/{run_id}", params={"wait": 30})
        resp.raise_for_status()
        view = resp.json()
        if view["status"] != "running":
            break
    t2 = time.perf_counter()
    if view["status"] != "completed" or (view.get("output") or "").strip() != "hello":
        raise RuntimeError(f"run {run_id} ended {view['status']}: {view.get('error')}")
    return {
        "id": run_id,
        "total": (t2 - t0) * 1e3,
        "client: POST /v1/runs": (t1 - t0) * 1e3,
        "client: GET ?wait=30 until completed": (t2 - t1) * 1e3,
    }


async def bare_once(client: Client, queue: str) -> dict[str, float | str]:
    wf_id = f"bench-bare-{uuid.uuid4().hex[:12]}"
    t0 = time.perf_counter()
    result = await client.execute_workflow(BareWorkflow.run, id=wf_id, task_queue=queue)
    elapsed = (time.perf_counter() - t0) * 1e3
    if result.strip() != "hello":
        raise RuntimeError(f"bare workflow returned {result!r}")
    return {"id": wf_id, "total": elapsed}


async def history_phases(client: Client, sample: dict[str, float | str]) -> None:
    """Add the server-side phase durations (ms) of one run, read from its history."""
    history = await client.get_workflow_handle(str(sample["id"])).fetch_history()
    times: dict[str, float] = {}
    for event in history.events:
        name = MILESTONES.get(event.event_type)
        if name is not None and name not in times:
            times[name] = event.event_time.ToDatetime().timestamp() * 1e3
    for label, (start, end) in PHASES.items():
        if start in times and end in times:
            sample[label] = times[end] - times[start]
    sample["client total - server wf duration"] = float(sample["total"]) - float(
        sample["server: wf started -> wf completed"]
    )


def summary(samples: list[dict[str, float | str]], key: str = "total") -> dict[str, float]:
    values = [float(s[key]) for s in samples if key in s]
    return {
        "runs": len(values),
        "p50_ms": percentile(values, 50),
        "p95_ms": percentile(values, 95),
        "mean_ms": statistics.fmean(values),
    }


async def bench(args: argparse.Namespace) -> dict[str, object]:
    info = machine_info()
    console.print(f"[bold]acc run latency benchmark[/]  {info['date']}")
    console.print(
        f"machine: {info['nproc']} x {info['cpu']}, Python {info['python']}, "
        f"loadavg {info['loadavg']}"
    )
    samples: dict[str, list[dict[str, float | str]]] = {"ours": [], "bare": []}
    with AccStack() as stack:
        console.print(
            f"acc up ready in {stack.start():.1f}s (Temporal at "
            f"{stack.temporal_address}, API at {stack.api_url})"
        )
        client = await Client.connect(
            stack.temporal_address, namespace="default", data_converter=pydantic_data_converter
        )
        queue = f"bench-bare-{uuid.uuid4().hex[:8]}"
        async with Worker(
            client, task_queue=queue, workflows=[BareWorkflow], activities=[echo_hello]
        ):
            headers = api_headers(stack.data_dir)
            with httpx.Client(base_url=stack.api_url, timeout=60, headers=headers) as http:
                for i in range(args.warmup + args.runs):
                    order = ("ours", "bare") if i % 2 == 0 else ("bare", "ours")
                    for case in order:
                        if case == "ours":
                            once = ours_sync_once if args.one_request else ours_once
                            sample = await asyncio.to_thread(once, http)
                        else:
                            sample = await bare_once(client, queue)
                        if i >= args.warmup:
                            samples[case].append(sample)
                    if (i + 1) % 20 == 0:
                        console.print(f"  {i + 1}/{args.warmup + args.runs} iterations")
        for sample in samples["ours"] + samples["bare"]:
            await history_phases(client, sample)
        stop_s, left = stack.stop()
    console.print(f"stack stopped in {stop_s:.1f}s; leftover pids: {left or 'none'}")
    ours, bare = summary(samples["ours"]), summary(samples["bare"])
    phase_keys = [k for k in samples["ours"][0] if k not in ("id", "total")]
    return {
        "machine": info,
        "runs": args.runs,
        "warmup": args.warmup,
        "one_request": args.one_request,
        "cases": {"ours": ours, "bare": bare},
        "ratio": {"p50": ours["p50_ms"] / bare["p50_ms"], "p95": ours["p95_ms"] / bare["p95_ms"]},
        "phases_ms": {
            case: {
                k: summary(samples[case], k)
                for k in phase_keys
                if any(k in s for s in samples[case])
            }
            for case in samples
        },
        "samples_ms": {case: [s["total"] for s in samples[case]] for case in samples},
    }


def report(result: dict[str, object]) -> None:
    cases: dict[str, dict[str, float]] = result["cases"]  # type: ignore[assignment]
    ratio: dict[str, float] = result["ratio"]  # type: ignore[assignment]
    table = Table(
        title=f"One-step run, start to result ({result['runs']} runs, {result['warmup']} warm-up)"
    )
    for column in ("case", "runs", "p50 ms", "p95 ms", "mean ms"):
        table.add_column(column, justify="left" if column == "case" else "right")
    ours_label = "ours, POST ?wait" if result.get("one_request") else "ours, POST + GET ?wait"
    labels = {"ours": ours_label, "bare": "bare temporalio client+worker"}
    for case, stats in cases.items():
        table.add_row(
            labels[case],
            str(stats["runs"]),
            f"{stats['p50_ms']:.1f}",
            f"{stats['p95_ms']:.1f}",
            f"{stats['mean_ms']:.1f}",
        )
    table.add_row(
        "[bold]ratio ours/bare[/]",
        "",
        f"[bold]{ratio['p50']:.2f}x[/]",
        f"[bold]{ratio['p95']:.2f}x[/]",
        "",
    )
    console.print(table)
    phases: dict[str, dict[str, dict[str, float]]] = result["phases_ms"]  # type: ignore[assignment]
    detail = Table(title="Where the time goes (p50 / p95 ms of each phase)")
    for column in ("phase", "ours", "bare"):
        detail.add_column(column, justify="left" if column == "phase" else "right")
    for key in phases["ours"]:
        cells = [
            f"{p[key]['p50_ms']:.1f} / {p[key]['p95_ms']:.1f}" if key in p else "-"
            for p in (phases["ours"], phases["bare"])
        ]
        detail.add_row(key, *cells)
    console.print(detail)
    verdict = "met" if max(ratio.values()) < 1.3 else "NOT met"
    console.print(f"goal ours < 1.3x bare at p50 and p95: {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100, help="measured runs per case (100)")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up runs per case (5)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write results here")
    parser.add_argument(
        "--one-request",
        action="store_true",
        help="ours as one POST /v1/runs?wait=30 instead of POST then GET ?wait",
    )
    args = parser.parse_args()
    restore_sigint()
    result = asyncio.run(bench(args))
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
        console.print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
