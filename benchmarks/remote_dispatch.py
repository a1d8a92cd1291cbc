"""What running a step on a remote agent adds: a one-step run whose step is `echo hello`
on the local shell backend, against the same step on a remote shell agent connected to a
pool node (worker -> Redis inbox -> node -> WebSocket -> agent -> node -> Temporal).

Stack (loopback, nothing mocked): a Temporal dev server, a Tansu broker, an embedded
redis-server, a SQLite database, acc's real workers in this process, one `acc pool`
node and one `acc agent connect` (each its own process). A run is started with the
Temporal client and timed to its result; the two cases take turns.

Goal: the remote step adds under 20 ms at p50 and 100 ms at p99.

    .venv/bin/python benchmarks/remote_dispatch.py --runs 100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _stack import machine_info, percentile, servers
from pool_connections import start_node
from rich.console import Console
from rich.table import Table

from core import db, temporal
from core import redis as redis_client
from core.auth import ApiKeys
from core.contracts import WORKFLOW_OF_PATTERN, RunInput, RunState
from core.settings import Settings, child_environment
from core.specs import parse_spec
from pool.registry import Registry
from tests.support.workers import local_settings, running_workers

CASES = {
    "local shell": {"backend": "shell", "command": ["echo", "hello"]},
    "remote shell agent": {"backend": "remote", "capability": "echo"},
}


async def once(client: object, settings: Settings, agent: dict[str, object]) -> float:
    run_id = f"bench-{uuid.uuid4().hex[:10]}"
    spec = parse_spec({"name": "bench-remote", "steps": [{"name": "hello", "agent": agent}]})
    started = time.perf_counter()
    handle = await client.start_workflow(  # type: ignore[attr-defined]
        WORKFLOW_OF_PATTERN["pipeline"],
        RunInput(
            run_id=run_id, tenant=settings.TENANT, spec=spec, agents_queue=settings.agents_queue
        ),
        id=run_id,
        task_queue=settings.ORCHESTRATION_QUEUE,
        result_type=RunState,
    )
    state: RunState = await handle.result()
    elapsed = (time.perf_counter() - started) * 1000
    if state.status != "completed":
        raise RuntimeError(f"run did not complete: {state.status}")
    return elapsed


async def bench(runs: int, warmup: int) -> dict[str, list[float]]:
    async with contextlib.AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="acc-remote-")))
        bootstrap = stack.enter_context(servers.tansu(tmp / "tansu.log"))
        redis_url = stack.enter_context(servers.redis_server(tmp))
        env = await servers.temporal_dev_server()
        stack.push_async_callback(env.shutdown)
        settings = local_settings(
            tmp,
            bootstrap,
            redis_url,
            TEMPORAL_ADDRESS=env.client.service_client.config.target_host,
            ORCHESTRATION_QUEUE=f"bench-{uuid.uuid4().hex[:8]}",
            SANDBOX="off",
        )
        engine = db.create_engine(settings)
        await db.migrate(engine, None)
        _, token = await ApiKeys(engine).create("bench", settings.TENANT, ["agents:connect"])
        await engine.dispose()
        client = await temporal.connect(settings)
        await stack.enter_async_context(running_workers(client, settings))
        node, port = start_node(settings, "bench", tmp / "node.log")
        stack.callback(node.terminate)
        agent_env = {**child_environment(settings), "ACC_API_KEY": token}
        argv = [sys.executable, "-m", "cli", "agent", "connect", "-c", "echo"]
        argv += ["--command", "echo hello", "--url", f"ws://127.0.0.1:{port}"]
        with (tmp / "agent.log").open("wb") as out:
            agent = subprocess.Popen(argv, env=agent_env, stdout=out, stderr=subprocess.STDOUT)
        stack.callback(agent.terminate)
        registry = Registry(redis_client.connect(settings), settings.REDIS_PREFIX)
        for _ in range(600):  # the agent registered (its process imports acc first)
            if await registry.agents(settings.TENANT):
                break
            await asyncio.sleep(0.1)
        samples: dict[str, list[float]] = {name: [] for name in CASES}
        names = list(CASES)
        for i in range(warmup + runs):
            for name in names[i % 2 :] + names[: i % 2]:
                ms = await once(client, settings, CASES[name])
                if i >= warmup:
                    samples[name].append(ms)
        return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="measured runs per case (100)")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up runs per case (5)")
    args = parser.parse_args()
    console = Console()
    info = machine_info()
    console.print(f"acc remote dispatch benchmark  {info['date']}")
    console.print(f"machine: {info['nproc']} x {info['cpu']}, loadavg {info['loadavg']}")
    samples = asyncio.run(bench(args.runs, args.warmup))
    base = samples["local shell"]
    table = Table(title=f"One-step run, start to result, ms ({args.runs} runs per case)")
    for column in ("case", "p50", "p99", "p50 added", "p99 added"):
        table.add_column(column, justify="left" if column == "case" else "right")
    for name, values in samples.items():
        p50, p99 = percentile(values, 50), percentile(values, 99)
        added50 = p50 - percentile(base, 50)
        added99 = p99 - percentile(base, 99)
        local = name == "local shell"
        table.add_row(
            name,
            f"{p50:.1f}",
            f"{p99:.1f}",
            "" if local else f"{added50:+.1f}",
            "" if local else f"{added99:+.1f}",
        )
    console.print(table)


if __name__ == "__main__":
    main()
