"""Agent processes: each in its own process group, so stopping a step stops everything it
started; killed with their worker, and reaped by the next worker if anything survives;
output read with a cap."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from pathlib import Path

STDERR_TAIL = 4096
KILL_GRACE_SECONDS = 2.0


def kill_group(pgid: int) -> None:
    """SIGKILL a whole process group (gone already is fine)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


async def stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the process's group, SIGKILL whatever is left after a grace period."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(proc.wait(), KILL_GRACE_SECONDS)
    kill_group(proc.pid)
    await proc.wait()


async def read_capped(
    stream: asyncio.StreamReader, limit: int, keep_tail: bool = False
) -> tuple[bytes, bool]:
    """Read to the end, keeping at most `limit` bytes (the head, or the tail); returns the
    bytes kept and whether any were dropped."""
    buf = bytearray()
    truncated = False
    while chunk := await stream.read(65536):
        buf += chunk
        if len(buf) > limit:
            truncated = True
            buf = buf[-limit:] if keep_tail else buf[:limit]
    return bytes(buf), truncated


# Every process a step starts carries this variable, naming the worker that started it
# ("<pid>:<start time>"); a worker that starts kills the processes of workers that died.
OWNER_ENV = "ACC_STEP_OWNER"
_SETPRIV = shutil.which("setpriv")  # util-linux: every Linux distribution ships it


def owner_tag(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{pid}:{_start_time(pid)}"


def dying_with_worker(argv: list[str]) -> list[str]:
    """`argv` run so that the worker's death kills it (a parent-death signal set by
    setpriv just before the exec, so no Python code runs in the forked child)."""
    if _SETPRIV is None:
        return argv
    return [_SETPRIV, "--pdeathsig", "KILL", "--", *argv]


def reap_orphans() -> list[int]:
    """Kill what steps of dead workers left running (their children and anything the
    parent-death signal did not reach); returns the pids killed."""
    killed: list[int] = []
    alive: dict[str, bool] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        owner = _owner_of(entry)
        if owner is None:
            continue
        if owner not in alive:
            pid, _, started = owner.partition(":")
            alive[owner] = pid.isdigit() and _start_time(int(pid)) == started
        if not alive[owner]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(int(entry.name))
    return killed


def _owner_of(proc_dir: Path) -> str | None:
    try:
        environ = (proc_dir / "environ").read_bytes()
    except OSError:
        return None
    prefix = f"{OWNER_ENV}=".encode()
    for item in environ.split(b"\0"):
        if item.startswith(prefix):
            return item[len(prefix) :].decode(errors="replace")
    return None


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot ("" when it is gone): with the
    pid, it names one process even after its pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]
