"""Worker memory per concurrent agent session, beside bare asyncio subprocess sessions.

The PRD allows an agent session 100 MB of worker memory; our goal is under 5 MB, the agent's
own subprocess aside. Setup, all real and local: a Temporal dev server, a Tansu broker (the
event bus), an embedded redis-server, and the OpenAI-compatible test server
(tests/support/openai_compatible_server.py) in a process of its own.

For each case and each session count K, a fresh agents worker process (this file, `serve`)
runs what `acc worker --queue agents` runs: a temporalio Worker polling the agents queue
with `AgentActivities.run_agent`, the real backends guarded by `AgentRuntime` (breakers,
rate limits and leases in Redis), events published to the broker. A driver process (this
file, `drive`) runs one tiny workflow per session, each a single `run_agent` activity, and
starts K of them at once (the table shows how many were open at the busiest moment, which
divides the growth). The worker first serves a warm-up batch of 5 sessions (imports,
SDK clients, connection pools), collects garbage, and its RSS is read (median of 10
samples): the baseline. Then the K sessions run while its RSS (VmRSS of /proc/<pid>/status,
which leaves out its child processes) is sampled every 20 ms. Per session:
(peak - baseline) / sessions open at once.

Cases: shell `sleep 10`; llm (the prompt makes the server hold each call 10 s); routed (a
`routed` step choosing a declared shell agent: routing, affinity and a lease per session);
bare (no acc: a python process that only imports asyncio runs K
`asyncio.create_subprocess_exec("sleep", "10")` with piped output at once).

    .venv/bin/python benchmarks/agent_memory.py --sessions 50 200
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from _stack import free_ports, machine_info
    from pydantic import BaseModel
    from rich.console import Console
    from rich.table import Table
    from temporalio.common import RetryPolicy
    from temporalio.worker import UnsandboxedWorkflowRunner, Worker

    from activities.agents import AgentActivities
    from core.contracts import RUN_AGENT, AgentResult, AgentTask

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CASES = ("shell", "llm", "routed", "bare")
WARM_UP = 5
SESSION_SECONDS = 10  # long enough for all K to be open at once on a small machine
GOAL_MB = 5.0
AGENTS_FILE = f"""
agents:
  - name: sleeper
    capabilities: {{wait: 1.0}}
    capacity: 100000
    agent: {{backend: shell, command: "sleep {SESSION_SECONDS}"}}
"""
console = Console(soft_wrap=True, width=120)


class SessionInput(BaseModel):
    task: AgentTask
    agents_queue: str


@workflow.defn
class SessionWorkflow:
    """One agent session: a single `run_agent` activity on the agents queue."""

    @workflow.run
    async def run(self, inp: SessionInput) -> AgentResult:
        return await workflow.execute_activity(
            RUN_AGENT,
            inp.task,
            result_type=AgentResult,
            task_queue=inp.agents_queue,
            start_to_close_timeout=timedelta(seconds=120),
            heartbeat_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


# -- the agents worker (measured) ---------------------------------------------------------


@dataclass
class Guarded:
    """The agent runtime as run_agent calls it, counting the sessions open at once."""

    runtime: Any
    open: ClassVar[int] = 0
    most: ClassVar[int] = 0

    async def run(self, ctx: Any, publish: Any) -> Any:
        Guarded.open += 1
        Guarded.most = max(Guarded.most, Guarded.open)
        try:
            return await self.runtime.run(ctx, publish)
        finally:
            Guarded.open -= 1


async def serve(max_sessions: int) -> None:
    from agents.backends import default_backends
    from agents.config import load_agents
    from agents.runtime import AgentRuntime
    from core import db, temporal
    from core import redis as redis_client
    from core.artifacts import ArtifactStore
    from core.bus import EventBus
    from core.receipts import ReceiptStore
    from core.settings import load_settings

    logging.basicConfig(level=logging.ERROR)
    settings = load_settings()
    client = await temporal.connect(settings)
    engine = db.create_engine(settings)
    await db.migrate(engine, settings.DATABASE_SCHEMA)
    bus = EventBus.from_settings(settings)
    await bus.start()
    redis = redis_client.connect(settings)
    backends = default_backends(settings)
    runtime = AgentRuntime(settings, redis, backends, load_agents(settings.AGENTS_FILE))
    artifacts = ArtifactStore(engine, settings.INLINE_OUTPUT_LIMIT)
    receipts = ReceiptStore(engine)
    agents = AgentActivities(settings, bus, artifacts, receipts, Guarded(runtime))  # type: ignore[arg-type]
    async with Worker(
        client,
        task_queue=settings.agents_queue,
        activities=[agents.run_agent],
        max_concurrent_activities=max_sessions,
    ):
        print("ready", flush=True)
        while line := await asyncio.to_thread(sys.stdin.readline):
            if line.strip() == "gc":
                gc.collect()
                Guarded.most = Guarded.open
                print("ok", flush=True)
            elif line.strip() == "stats":
                print(json.dumps({"most_open": Guarded.most}), flush=True)
    await bus.stop()
    await redis.aclose()
    await engine.dispose()


# -- the driver: K sessions at once -------------------------------------------------------


def session_agent(kind: str, llm_url: str) -> dict[str, Any]:
    if kind == "llm":
        return {
            "backend": "llm",
            "model": "local",
            "max_tokens": 16,
            "base_url": f"{llm_url}/v1",
            "prompt": f"SLEEP {SESSION_SECONDS} then say hello",
        }
    if kind == "routed":
        return {"backend": "routed", "capability": "wait", "affinity_key": "bench"}
    return {"backend": "shell", "command": ["sleep", str(SESSION_SECONDS)]}


async def drive(kind: str, count: int, llm_url: str) -> None:
    from core import temporal
    from core.settings import load_settings

    settings = load_settings()
    client = await temporal.connect(settings)
    queue = settings.ORCHESTRATION_QUEUE
    agent = session_agent(kind, llm_url)

    async def session(i: int) -> AgentResult:
        task = AgentTask.model_validate(
            {
                "run_id": f"bench-{uuid.uuid4().hex[:10]}",
                "tenant": "bench",
                "step_index": 0,
                "step_name": "session",
                "agent": agent,
            }
        )
        inp = SessionInput(task=task, agents_queue=settings.agents_queue)
        return await client.execute_workflow(
            SessionWorkflow.run, inp, id=task.run_id, task_queue=queue
        )

    started = time.perf_counter()
    # Unsandboxed: this module does file-system work at import; the workflow is trivial.
    async with Worker(
        client,
        task_queue=queue,
        workflows=[SessionWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        results = await asyncio.gather(*(session(i) for i in range(count)), return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    print(
        json.dumps(
            {
                "ok": count - len(failed),
                "failed": len(failed),
                "error": repr(failed[0].__cause__ or failed[0]) if failed else None,
                "seconds": time.perf_counter() - started,
            }
        )
    )


# -- the baseline: bare asyncio subprocess sessions, in a python that imports nothing else --


BARE = f"""
import asyncio, gc, json, subprocess, sys, time

async def session():
    proc = await asyncio.create_subprocess_exec(
        "sleep", "{SESSION_SECONDS}", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    await proc.communicate()

async def main(count):
    await asyncio.gather(*(session() for _ in range({WARM_UP})))
    gc.collect()
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    started = time.perf_counter()
    await asyncio.gather(*(session() for _ in range(count)))
    print(json.dumps({{"ok": count, "failed": 0, "seconds": time.perf_counter() - started}}))

asyncio.run(main(int(sys.argv[1])))
"""


# -- the parent: servers, processes, sampling ---------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def expect(proc: subprocess.Popen[str], word: str, timeout: float = 60) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.strip() == word:
            return
        if not line and proc.poll() is not None:
            raise RuntimeError(f"process exited ({proc.returncode}) before saying {word!r}")
    raise TimeoutError(f"no {word!r} within {timeout}s")


def baseline(pid: int) -> float:
    samples = []
    for _ in range(10):
        samples.append(rss_mb(pid))
        time.sleep(0.02)
    return statistics.median(samples)


def peak_during(pid: int, proc: subprocess.Popen[str], send: str = "") -> tuple[float, str]:
    """The peak RSS of `pid` while `proc` runs to its end (fed `send`), and its output."""
    peak, done = 0.0, threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            with contextlib.suppress(OSError, RuntimeError):  # gone, or a zombie
                peak = max(peak, rss_mb(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        out = proc.communicate(send, timeout=300)[0]
    finally:
        done.set()
        sampler.join()
    return peak, out


@dataclass
class Row:
    case: str
    sessions: int
    before: float
    peak: float
    ok: int
    failed: int
    seconds: float
    most_open: int  # sessions open at once at the busiest moment
    error: str | None = None

    @property
    def per_session(self) -> float:
        return (self.peak - self.before) / self.most_open


def child(mode: str, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """This file in `mode` (or the bare script), its stderr appended to <data dir>/<mode>.log."""
    script = ["-c", BARE] if mode == "bare" else [str(Path(__file__).resolve()), mode]
    log = Path(env["ACC_DATA_DIR"]) / f"{mode}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as err:
        return subprocess.Popen(
            [sys.executable, *script, *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )


def last_json(out: str, mode: str, env: dict[str, str]) -> dict[str, Any]:
    lines = out.strip().splitlines()
    if not lines:
        log = (Path(env["ACC_DATA_DIR"]) / f"{mode}.log").read_text()
        raise RuntimeError(f"{mode} printed no result; its log ends:\n{log[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def run_driver(kind: str, count: int, llm_url: str, env: dict[str, str]) -> dict[str, Any]:
    driver = child("drive", kind, str(count), llm_url, env=env)
    return last_json(driver.communicate(timeout=300)[0], "drive", env)


def measure_acc(kind: str, count: int, llm_url: str, env: dict[str, str]) -> Row:
    worker = child("serve", str(count + WARM_UP), env=env)
    try:
        expect(worker, "ready")
        warm = run_driver(kind, WARM_UP, llm_url, env)
        if warm["failed"]:
            raise RuntimeError(f"{kind} warm-up failed: {warm['error']}")
        assert worker.stdin is not None
        worker.stdin.write("gc\n")
        worker.stdin.flush()
        expect(worker, "ok")
        before = baseline(worker.pid)
        driver = child("drive", kind, str(count), llm_url, env=env)
        peak, out = peak_during(worker.pid, driver)
        result = last_json(out, "drive", env)
        worker.stdin.write("stats\n")
        worker.stdin.flush()
        assert worker.stdout is not None
        most_open = json.loads(worker.stdout.readline())["most_open"]
        return Row(
            kind,
            count,
            before,
            peak,
            result["ok"],
            result["failed"],
            result["seconds"],
            most_open,
            result.get("error"),
        )
    finally:
        with contextlib.suppress(OSError, ValueError):
            worker.stdin.close()  # type: ignore[union-attr]
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def measure_bare(count: int, env: dict[str, str]) -> Row:
    proc = child("bare", str(count), env=env)
    expect(proc, "ready")
    before = baseline(proc.pid)
    peak, lines = peak_during(proc.pid, proc, "go\n")
    result = last_json(lines, "bare", env)
    return Row(
        "bare", count, before, peak, result["ok"], result["failed"], result["seconds"], count
    )  # all gathered at once


@contextlib.contextmanager
def servers(tmp: Path) -> Any:
    """Temporal dev server, Tansu broker, redis-server, LLM test server; yields the env."""
    from core import servers
    from core.settings import load_settings

    temporal_port, ui_port, metrics_port, kafka_port = free_ports(4)
    sock = tmp / "redis.sock"
    ports = load_settings(
        TEMPORAL_PORT=temporal_port, TEMPORAL_UI_PORT=ui_port, TEMPORAL_METRICS_PORT=metrics_port
    )
    argvs = [
        servers.temporal_dev_server(ports),
        servers.tansu_broker(kafka_port),
        servers.redis_server(ports, sock, tmp),
    ]
    procs = [
        subprocess.Popen(a, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for a in argvs
    ]
    llm: subprocess.Popen[str] = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\nfrom tests.support.openai_compatible_server import "
            "OpenAICompatibleServer as S\ns = S()\ns.start()\nprint(s.url, flush=True)\n"
            "sys.stdin.read()",
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert llm.stdout is not None
        llm_url = llm.stdout.readline().strip()
        (tmp / "agents.yaml").write_text(AGENTS_FILE)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ACC_")}
        env.update(
            ACC_TEMPORAL_ADDRESS=f"127.0.0.1:{temporal_port}",
            ACC_REDIS_URL=f"unix://{sock}",
            ACC_KAFKA_BOOTSTRAP=f"127.0.0.1:{kafka_port}",
            ACC_DATA_DIR=str(tmp / ".acc"),
            ACC_DATABASE_URL=f"sqlite:///{tmp / 'acc.db'}",
            ACC_AGENTS_FILE=str(tmp / "agents.yaml"),
            ACC_ORCHESTRATION_QUEUE="bench-sessions",
            ACC_AGENTS_QUEUE="bench-agents",
            ACC_RATE_LIMITS=json.dumps(
                {"openai": {"requests_per_minute": 1_000_000, "tokens_per_minute": 100_000_000}}
            ),
            PYTHONPATH=str(ROOT),
        )
        asyncio.run(_ready(env))
        yield env, llm_url
    finally:
        with contextlib.suppress(OSError):
            llm.stdin.close()  # type: ignore[union-attr]
        everything: list[subprocess.Popen[Any]] = [llm, *procs]
        for proc in everything:
            proc.terminate()
        for proc in everything:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


async def _ready(env: dict[str, str]) -> None:
    """Wait for Temporal and the broker, and create the events topic."""
    from core import temporal
    from core.bus import ensure_topics
    from core.settings import load_settings

    settings = load_settings(
        TEMPORAL_ADDRESS=env["ACC_TEMPORAL_ADDRESS"], KAFKA_BOOTSTRAP=env["ACC_KAFKA_BOOTSTRAP"]
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            await temporal.connect(settings)
            await asyncio.wait_for(
                ensure_topics(settings.kafka_bootstrap, [settings.EVENTS_TOPIC]), 5
            )
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


def report(rows: list[Row]) -> None:
    info = machine_info()
    console.print(
        f"[bold]Worker memory per concurrent agent session[/] ({info['date']}, "
        f"{info['nproc']} CPUs, {info['cpu']}, Python {info['python']})"
    )
    table = Table(
        "case",
        "sessions",
        "open at once",
        "RSS before",
        "RSS peak",
        "growth",
        "per session",
        "ok",
        "wall",
        f"< {GOAL_MB:g} MB",
    )
    for r in rows:
        ok = "[green]yes[/]" if r.per_session < GOAL_MB and not r.failed else "[red]no[/]"
        table.add_row(
            r.case,
            str(r.sessions),
            str(r.most_open),
            f"{r.before:.1f} MB",
            f"{r.peak:.1f} MB",
            f"{r.peak - r.before:.1f} MB",
            f"{r.per_session * 1024:.0f} KB",
            f"{r.ok}/{r.sessions}",
            f"{r.seconds:.1f} s",
            ok,
        )
    console.print(table)
    for r in rows:
        if r.error:
            console.print(f"[red]{r.case} x{r.sessions}: {r.error}[/]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--sessions", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="acc-mem-") as tmp, servers(Path(tmp)) as (env, url):
        for case in args.cases:
            for count in args.sessions:
                console.print(f"{case} x{count}...")
                row = (
                    measure_bare(count, env)
                    if case == "bare"
                    else measure_acc(case, count, url, env)
                )
                rows.append(row)
    report(rows)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        asyncio.run(serve(int(sys.argv[2])))
    elif len(sys.argv) > 1 and sys.argv[1] == "drive":
        asyncio.run(drive(sys.argv[2], int(sys.argv[3]), sys.argv[4]))
    else:
        main()
