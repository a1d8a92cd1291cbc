"""Chaos on a real stack started by `acc up`: runs of every pattern whose steps log when
they start and end, parts killed with SIGKILL while they run, and the tally afterwards.

Each step is a python3 child that appends `<run> <step> <input hash> start|end <time>`
to `chaos.log` in its run directory (O_APPEND: whole lines; the run directory is all a
sandboxed step can write) around a short sleep. One that logged `start` without `end`,
then started again, was interrupted by the kill and run again: allowed, since it never
finished. A step that logged `end` twice ran to completion twice. That is allowed only
when a kill came within `RECEIPT_WINDOW` seconds after its first end: the worker died
between the command's exit and the step's receipt (the one moment a step can finish
without anyone knowing; `idempotent: false` steps fail instead of running again). Any
other double finish is a repeat: a receipt that did not do its job. Used by the chaos
tests (small numbers, asserted) and `benchmarks/chaos.py` (large numbers, reported).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.stack import api_headers

STEP = """
import hashlib, os, sys, time
data = sys.stdin.read()
digest = hashlib.sha1(data.encode()).hexdigest()[:8]
key = f"{os.environ['ACC_RUN_ID']} {os.environ['ACC_STEP']} {digest}"
def log(what):
    fd = os.open("chaos.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, f"{key} {what} {time.time():.3f}\\n".encode())
    os.close(fd)
log("start")
time.sleep(float(os.environ['CHAOS_SECONDS']))
log("end")
print(os.environ.get('CHAOS_SAY') or data.strip().upper() or 'OK')
"""
RECEIPT_WINDOW = 3.0  # seconds from a command's exit to its receipt, on a busy machine
PATTERNS = ("pipeline", "scatter-gather", "consensus", "saga", "supervisor", "event-driven")


def step(name: str, seconds: float, say: str = "") -> dict[str, Any]:
    env = {"CHAOS_SECONDS": str(seconds), "CHAOS_SAY": say}
    agent = {"backend": "shell", "command": ["python3", "-c", STEP], "env": env}
    return {"name": name, "agent": agent, "timeout_seconds": 120}


def spec(pattern: str, n: int, seconds: float) -> dict[str, Any]:
    """A run of `pattern` whose every step is a logged sleeper."""
    base: dict[str, Any] = {"name": f"chaos-{pattern}-{n}", "pattern": pattern, "input": f"x{n}"}
    s = lambda name, say="": step(name, seconds, say)  # noqa: E731
    if pattern == "pipeline":
        return base | {"steps": [s("a"), s("b"), s("c")]}
    if pattern == "scatter-gather":
        return base | {"agents": [s("a"), s("b")], "tasks": ["t1", "t2"]}
    if pattern == "consensus":
        participants = [
            {"name": p, "propose": s("propose", p), "vote": s("vote", "p1")} for p in ("p", "q")
        ]
        return base | {"participants": participants}
    if pattern == "saga":
        return base | {"steps": [s("a") | {"compensate": s("undo-a")}, s("b"), s("c")]}
    if pattern == "supervisor":
        plan = json.dumps({"subtasks": ["part one", "part two"]})
        return base | {
            "manager": s("manager", plan),
            "workers": {"default": s("worker")},
            "reviewer": s("reviewer", "0.9"),
        }
    if pattern == "event-driven":
        return base | {"handlers": [{"on": "tick", "step": s("handle")}]}
    raise ValueError(pattern)


@dataclass
class Tally:
    """What the step log says about every step execution."""

    finished: Counter[str] = field(default_factory=Counter)  # key -> completed executions
    interrupted: Counter[str] = field(default_factory=Counter)  # key -> starts never ended
    ends: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def read(cls, runs: Path) -> Tally:
        """From every run's `chaos.log` under `runs` (the stack's run directories)."""
        tally = cls()
        open_starts: Counter[str] = Counter()
        lines = [line for log in runs.glob("*/chaos.log") for line in log.read_text().splitlines()]
        for line in lines:
            key, what, at = line.rsplit(" ", 2)
            if what == "start":
                open_starts[key] += 1
            elif what == "end":
                open_starts[key] -= 1
                tally.finished[key] += 1
                tally.ends[key].append(float(at))
        tally.interrupted = +open_starts
        return tally

    def finished_twice(self) -> list[str]:
        return sorted(key for key, n in self.finished.items() if n > 1)

    def unrecorded(self, kills: list[float]) -> list[str]:
        """Steps that finished again because a kill came before their receipt could."""
        return [
            key
            for key in self.finished_twice()
            if any(0 <= kill - min(self.ends[key]) <= RECEIPT_WINDOW for kill in kills)
        ]

    def repeated(self, kills: list[float]) -> list[str]:
        """Steps that finished more than once with no kill to excuse it."""
        excused = set(self.unrecorded(kills))
        return [key for key in self.finished_twice() if key not in excused]


@dataclass
class Stack:
    """A running `acc up` stack: its API, state file and logs."""

    api: str
    data_dir: Path
    http: httpx.Client = field(init=False)
    kill_times: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.api, timeout=70, headers=api_headers(self.data_dir))

    def pid(self, part: str) -> int:
        state = json.loads((self.data_dir / "stack.json").read_text())
        return int(state["parts"][part])

    def restarts(self) -> dict[str, int]:
        state = json.loads((self.data_dir / "stack.json").read_text())
        return dict(state.get("restarts", {}))

    def kill(self, part: str) -> int:
        """SIGKILL a part's process; returns its pid."""
        pid = self.pid(part)
        self._log_mark = self._log_size(part)
        self.kill_times.append(time.time())
        os.kill(pid, signal.SIGKILL)
        return pid

    def back(self, part: str, old_pid: int, timeout: float = 60) -> float:
        """Seconds from the kill until the part serves again: a new process, and then
        (worker) its log says it polls, (api) /readyz answers, (kafka) the broker does."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                if self.pid(part) != old_pid and self._serves(part):
                    return time.monotonic() - started
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{part} did not come back within {timeout:.0f}s")

    _log_mark = 0

    def _log_size(self, part: str) -> int:
        path = self.data_dir / "logs" / f"{part}.log"
        return path.stat().st_size if path.exists() else 0

    def _serves(self, part: str) -> bool:
        if part == "api":
            try:
                return self.http.get("/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False
        if part == "worker":
            with (self.data_dir / "logs" / "worker.log").open("rb") as log:
                log.seek(self._log_mark)
                return b"worker polling" in log.read()
        if part == "kafka":
            port = int(self.bootstrap.rsplit(":", 1)[1])
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", port)) == 0
        return True

    @property
    def bootstrap(self) -> str:
        state = json.loads((self.data_dir / "stack.json").read_text())
        return str(state["urls"]["Kafka bootstrap"])

    def start(self, run_spec: dict[str, Any]) -> str:
        for _ in range(100):  # the API may be the part that was killed
            try:
                resp = self.http.post("/v1/runs", json=run_spec)
            except httpx.HTTPError:
                time.sleep(0.2)
                continue
            assert resp.status_code == 202, resp.text
            return str(resp.json()["id"])
        raise TimeoutError("the API never took the run")

    def event(self, run_id: str, event_id: str, kind: str) -> None:
        for _ in range(100):
            try:
                # The event's id in its data: each handler step gets its own input (and key).
                body = {"id": event_id, "type": kind, "data": {"event": event_id}}
                resp = self.http.post(f"/v1/runs/{run_id}/events", json=body)
                if resp.status_code == 202:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"event {event_id} never reached {run_id}")

    def final(self, run_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        view: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                view = self.http.get(f"/v1/runs/{run_id}", params={"wait": 10}).json()
            except httpx.HTTPError:
                time.sleep(0.5)
                continue
            if view.get("status") not in ("running", "waiting", None):
                return view
        return view


@dataclass
class Outcome:
    runs: int
    completed: int
    not_completed: dict[str, str]
    kills: int
    steps_finished: int
    steps_repeated: list[str]  # finished twice with no kill to excuse it: receipts failed
    steps_unrecorded: list[str]  # finished, then the worker died before their receipt
    steps_interrupted: int
    recovery_seconds: list[float]


def worker_kills(stack: Stack, kills: int, every: float, seconds: float) -> Outcome:
    """Runs of every pattern started throughout, the worker killed `kills` times."""
    runs: dict[str, str] = {}
    events: dict[str, int] = defaultdict(int)
    recoveries: list[float] = []

    def launch(n: int) -> None:
        pattern = PATTERNS[n % len(PATTERNS)]
        runs[stack.start(spec(pattern, n, seconds))] = pattern

    for n in range(len(PATTERNS)):
        launch(n)
    for k in range(kills):
        time.sleep(every)
        launch(len(PATTERNS) + k)
        for run_id, pattern in runs.items():  # event-driven runs get work as they go
            if pattern == "event-driven" and events[run_id] < 2:
                events[run_id] += 1
                stack.event(run_id, f"tick-{events[run_id]}", "tick")
        pid = stack.kill("worker")
        recoveries.append(stack.back("worker", pid))
    for run_id, pattern in runs.items():
        if pattern == "event-driven":
            stack.event(run_id, "stop", "stop")
    views = {run_id: stack.final(run_id, timeout=240) for run_id in runs}
    not_completed = {
        r: f"{v.get('status')}: {v.get('error')}"
        for r, v in views.items()
        if v.get("status") != "completed"
    }
    tally = Tally.read(stack.data_dir / "runs")
    return Outcome(
        runs=len(runs),
        completed=len(runs) - len(not_completed),
        not_completed=not_completed,
        kills=kills,
        steps_finished=sum(tally.finished.values()),
        steps_repeated=tally.repeated(stack.kill_times),
        steps_unrecorded=tally.unrecorded(stack.kill_times),
        steps_interrupted=sum(tally.interrupted.values()),
        recovery_seconds=recoveries,
    )
