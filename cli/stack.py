"""The one-machine stack behind `acc up`: which processes to start, in what order, and how
to stop them all.

Each part runs in its own process group with its log under `<data dir>/logs/`. A lock
file held for the life of `acc up` makes a second `acc up` fail fast, and
`<data dir>/stack.json` records the processes so `acc down` can stop them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from cli.probes import port_in_use
from core import servers
from core.auth import ApiKeys, Unauthorized
from core.codec import new_key_line
from core.settings import Settings, child_environment

STOP_GRACE_SECONDS = 10.0


class StackError(Exception):
    """A problem the user can fix; the message says how."""


@dataclass
class Part:
    """One process of the stack."""

    name: str
    title: str
    argv: list[str]
    ports: list[tuple[int, str]] = field(default_factory=list)  # (port, setting that moves it)
    probe: str = ""  # key into cli.probes.PROBES
    wave: int = 0  # parts of a wave start together; a wave starts once the previous is ready
    stop_grace: float = STOP_GRACE_SECONDS  # SIGTERM to SIGKILL
    proc: subprocess.Popen[bytes] | None = None

    def log_path(self, settings: Settings) -> Path:
        return settings.data_dir / "logs" / f"{self.name}.log"


def plan(settings: Settings) -> list[Part]:
    """The parts `acc up` starts: embedded servers for whatever is not configured, then
    the worker, an aggregator, the API and one pool node."""
    data = settings.data_dir
    parts: list[Part] = []
    try:
        if settings.TEMPORAL_ADDRESS is None:
            temporal_ports = [
                (settings.TEMPORAL_PORT, "ACC_TEMPORAL_PORT"),
                (settings.TEMPORAL_UI_PORT, "ACC_TEMPORAL_UI_PORT"),
                (settings.TEMPORAL_METRICS_PORT, "ACC_TEMPORAL_METRICS_PORT"),
            ]
            argv = servers.temporal_dev_server(settings, data / "temporal.db")
            if settings.payload_keys() is not None:  # the Web UI decodes through the API
                argv += ["--ui-codec-endpoint", f"{settings.api_url}/codec"]
            parts.append(
                Part("temporal", "Temporal dev server + Web UI", argv, temporal_ports, "temporal")
            )
        if settings.KAFKA_BOOTSTRAP is None:
            argv = servers.tansu_broker(settings.KAFKA_PORT)
            # In-memory broker: nothing to flush, and it can wait seconds for a consumer
            # group join in progress before exiting.
            kafka_ports = [(settings.KAFKA_PORT, "ACC_KAFKA_PORT")]
            parts.append(
                Part(
                    "kafka",
                    "Kafka-protocol broker (Tansu)",
                    argv,
                    kafka_ports,
                    "kafka",
                    stop_grace=1.0,
                )
            )
        if settings.REDIS_URL is None:
            argv = servers.redis_server(settings, data / "redis.sock", data)
            parts.append(Part("redis", "Redis (embedded)", argv, probe="redis"))
    except servers.NotInstalled as exc:
        raise StackError(exc.message) from None
    parts.append(Part("database", "SQL database", [], probe="database"))
    # The API does not need the workers to start, so both start in the second wave.
    worker = [sys.executable, "-m", "cli", "worker"]
    parts.append(Part("worker", "Workers", worker, probe="worker", wave=1))
    aggregator = [sys.executable, "-m", "cli", "aggregator"]
    parts.append(Part("aggregator", "Aggregator", aggregator, probe="aggregator", wave=1))
    api = [sys.executable, "-m", "cli", "api"]
    parts.append(
        Part("api", "API + dashboard", api, [(settings.API_PORT, "ACC_API_PORT")], "api", wave=1)
    )
    # One pool node: remote agents and live subscribers over WebSocket.
    pool = [sys.executable, "-m", "cli", "pool"]
    pool_ports = [(settings.POOL_PORT, "ACC_POOL_PORT")]
    parts.append(Part("pool", "WebSocket pool", pool, pool_ports, "pool", wave=1))
    return parts


def with_payload_keys(settings: Settings) -> Settings:
    """The settings with payload encryption on: the configured keys, else a key file in the
    data dir, made on the first `acc up` (mode 600) and kept, so runs stay readable."""
    if settings.payload_keys() is not None:
        return settings
    path = settings.data_dir / "payload.keys"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(new_key_line("k1") + "\n")
    return settings.model_copy(update={"PAYLOAD_KEYS_FILE": path})


async def ensure_admin_key(settings: Settings, keys: ApiKeys) -> None:
    """A local admin key for this machine's CLI, in ACC_DATA_DIR/admin.key (mode 600): kept
    while it is valid, made again when it is not (a new database, a revocation)."""
    path = settings.data_dir / "admin.key"
    if path.exists():
        with contextlib.suppress(Unauthorized):
            await keys.verify(path.read_text().strip())
            return
    _, token = await keys.create("local-admin", settings.TENANT, ["admin"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(token + "\n")


def check_ports(settings: Settings, parts: list[Part]) -> None:
    for part in parts:
        for port, setting in part.ports:
            if port_in_use("127.0.0.1", port):
                raise StackError(
                    f"port {port} ({part.title}) is already in use; "
                    f"set {setting} to another port, or stop what is using it"
                )


class StackLock:
    """An exclusive lock on the data dir, held while `acc up` runs. The kernel drops it
    if the process dies, so a crash never leaves a stale lock behind."""

    def __init__(self, settings: Settings) -> None:
        self.path = settings.data_dir / "acc.lock"
        self.state_path = settings.data_dir / "stack.json"
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            owner = read_state(self.state_path).get("pid", "?")
            raise StackError(
                f"acc is already running from {self.path.parent} (pid {owner}); "
                "`acc status` shows it and `acc down` stops it"
            ) from None
        self._file = handle

    def release(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.state_path.unlink()
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def find_state(start: Path) -> Path | None:
    """The state file of a running stack: `.acc/stack.json` in `start` or a parent folder
    (as git finds its repository), so commands work from any folder of the project."""
    for folder in (start, *start.parents):
        candidate = folder / ".acc" / "stack.json"
        if candidate.is_file():
            return candidate
    return None


def read_state(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


# Where the stack's services are, recorded so commands run elsewhere find the same ones.
RECORDED_SETTINGS = (
    *("TEMPORAL_ADDRESS", "KAFKA_BOOTSTRAP", "REDIS_URL", "DATABASE_URL", "DATABASE_SCHEMA"),
    *("API_URL", "ORCHESTRATION_QUEUE", "AGENTS_QUEUE", "PAYLOAD_KEYS_FILE", "POOL_URL"),
)


def write_state(
    settings: Settings,
    parts: list[Part],
    urls: dict[str, str],
    restarts: dict[str, int] | None = None,
) -> None:
    path = settings.data_dir / "stack.json"
    resolved = child_environment(settings)
    state = {
        "pid": os.getpid(),
        "started_at": read_state(path).get("started_at") or time.time(),
        "parts": {p.name: p.proc.pid for p in parts if p.proc is not None},
        "urls": urls,
        "restarts": restarts or {},
        "settings": {k: resolved[f"ACC_{k}"] for k in RECORDED_SETTINGS if f"ACC_{k}" in resolved},
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(path)


def launch(settings: Settings, part: Part) -> None:
    log = part.log_path(settings)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        part.proc = subprocess.Popen(
            part.argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_environment(settings),
            cwd=settings.data_dir.parent,
            start_new_session=True,  # own process group: stopping it stops its children too
        )


def log_tail(settings: Settings, part: Part, lines: int = 15) -> str:
    try:
        text = part.log_path(settings).read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def stop_groups(graces: dict[int, float]) -> None:
    """Stop several process groups at once: SIGTERM all, then SIGKILL each one still alive
    when its own grace period (seconds, by group id) runs out."""
    for pid in graces:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
    started = time.monotonic()
    alive = set(graces)
    while alive:
        alive = {pid for pid in alive if _group_alive(pid)}
        for pid in [p for p in alive if time.monotonic() - started >= graces[p]]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            alive.discard(pid)
        time.sleep(0.02)


def _group_alive(pgid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pgid, os.WNOHANG)  # reap the leader if it is our child, so it is not a zombie
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def pid_alive(pid: int) -> bool:
    """True while the process runs; a zombie (exited, not yet reaped) counts as gone."""
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


def stop_parts(parts: list[Part]) -> None:
    """Stop wave by wave in reverse, so the API and workers drain before the servers go."""
    for wave in sorted({part.wave for part in parts}, reverse=True):
        members = [p for p in parts if p.wave == wave and p.proc is not None]
        stop_groups({p.proc.pid: p.stop_grace for p in members if p.proc is not None})
        for part in members:
            if part.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    part.proc.wait(timeout=1)
                part.proc = None
