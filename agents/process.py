"""Agent processes: each in its own process group, so stopping a step stops everything it
started; output read with a cap."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

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
