"""The shell backend: one allowed executable, run in the run's working directory.

The child gets a scrubbed environment (PATH from settings plus the step's own
variables), its own process group (so cancelling kills everything it started), a
time limit and a cap on the output kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.exceptions import ApplicationError

from agents import sandbox
from agents.base import AgentContext, AgentOutcome
from agents.process import (
    OWNER_ENV,
    STDERR_TAIL,
    dying_with_worker,
    kill_group,
    owner_tag,
    read_capped,
    stop,
)
from core.settings import Settings
from core.specs import ShellAgent

POLL_SECONDS = 0.25
LEFTOVER_GRACE_SECONDS = 0.5


class CommandRejected(Exception):
    """The command is not allowed or cannot be found; retrying cannot help."""


class CommandTimedOut(Exception):
    pass


@dataclass(frozen=True)
class ShellOutcome:
    stdout: str
    stderr: str
    exit_code: int
    truncated: bool
    duration_ms: float


def resolve(agent: ShellAgent, allowed: Callable[[str], bool], path: str) -> str:
    executable = agent.command[0]
    if not allowed(Path(executable).name) or (os.sep in executable and not allowed(executable)):
        raise CommandRejected(f"command {executable!r} is not in ACC_SHELL_ALLOWED_COMMANDS")
    found = shutil.which(executable, path=path)
    if found is None:
        raise CommandRejected(f"command {executable!r} was not found on PATH {path}")
    return found


async def execute(
    agent: ShellAgent,
    *,
    executable: str,
    stdin: str,
    cwd: Path,
    path: str,
    timeout: float,
    output_limit: int,
    tick: Callable[[], Awaitable[None] | None] | None = None,
    extra_env: dict[str, str] | None = None,
    sandboxed: bool = False,
) -> ShellOutcome:
    cwd.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - one cheap syscall per step
    env = {"PATH": path, "HOME": str(cwd), "LANG": "C.UTF-8", **(extra_env or {}), **agent.env}
    env[OWNER_ENV] = owner_tag()  # after the step's own variables: it cannot hide from reaping
    argv = [executable, *agent.command[1:]]
    if sandboxed:
        sandbox.prepare(cwd)
        argv = sandbox.wrap(argv, sandbox.Layout(cwd, network=agent.network))
    else:
        argv = dying_with_worker(argv)
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env=env,
        start_new_session=True,
    )
    assert proc.stdin and proc.stdout and proc.stderr
    io = asyncio.gather(
        _feed(proc.stdin, stdin.encode()),
        read_capped(proc.stdout, output_limit),
        read_capped(proc.stderr, output_limit, keep_tail=True),
        proc.wait(),
    )
    try:
        async with asyncio.timeout(timeout):
            await _until_done(proc, io, tick)
    except TimeoutError:
        await stop(proc)
        raise CommandTimedOut(f"command timed out after {timeout:g}s") from None
    except BaseException:
        await stop(proc)
        raise
    finally:
        if not io.done():
            io.cancel()
            with contextlib.suppress(BaseException):
                await io
    _, (out, truncated), (err, _), code = io.result()
    return ShellOutcome(
        stdout=out.decode(errors="replace"),
        stderr=err[-STDERR_TAIL:].decode(errors="replace"),
        exit_code=code,
        truncated=truncated,
        duration_ms=(time.perf_counter() - started) * 1000,
    )


async def _until_done(
    proc: asyncio.subprocess.Process,
    io: asyncio.Future[Any],
    tick: Callable[[], Awaitable[None] | None] | None,
) -> None:
    """Wait for the command and its output, heartbeating about once a second. When the
    command has exited but something it started in the background still holds its output
    pipes, that leftover is killed after a short grace instead of holding the step open
    until its timeout."""
    exited_at: float | None = None
    polls = 0
    while not (await asyncio.wait({io}, timeout=POLL_SECONDS))[0]:
        polls += 1
        if tick is not None and polls % 4 == 0:
            pending = tick()
            if pending is not None:
                await pending
        if proc.returncode is not None:
            exited_at = exited_at or time.monotonic()
            if time.monotonic() - exited_at > LEFTOVER_GRACE_SECONDS:
                kill_group(proc.pid)


async def _feed(stream: asyncio.StreamWriter, data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        if data:
            stream.write(data)
            await stream.drain()
        stream.close()


class ShellBackend:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def run(self, ctx: AgentContext) -> AgentOutcome:
        agent = ctx.task.agent
        assert isinstance(agent, ShellAgent)
        settings = self._settings
        try:
            executable = resolve(agent, settings.allows_command, settings.SHELL_PATH)
        except CommandRejected as exc:
            raise ApplicationError(str(exc), type="CommandRejected", non_retryable=True) from None
        try:
            outcome = await execute(
                agent,
                sandboxed=sandbox.use_sandbox(settings),
                executable=executable,
                stdin=ctx.input_text,
                cwd=ctx.workdir,
                path=settings.SHELL_PATH,
                timeout=ctx.task.timeout_seconds,
                output_limit=settings.SHELL_OUTPUT_LIMIT,
                tick=ctx.heartbeat,
                extra_env={"ACC_RUN_ID": ctx.task.run_id, "ACC_STEP": ctx.task.step_name},
            )
        except CommandTimedOut as exc:
            raise ApplicationError(str(exc), type="CommandTimedOut") from None
        error = None
        if outcome.exit_code != 0:
            last = (outcome.stderr.strip().splitlines() or [""])[-1]
            error = f"{agent.command[0]} exited with code {outcome.exit_code}"
            error += f": {last}" if last else ""
        return AgentOutcome(
            text=outcome.stdout,
            exit_code=outcome.exit_code,
            stderr=outcome.stderr,
            truncated=outcome.truncated,
            error=error,
        )
