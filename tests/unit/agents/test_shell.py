"""The shell backend runs real processes: output, stdin, exit codes, limits, timeouts."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from agents import process
from agents.backends import shell
from cli.stack import pid_alive
from core.specs import ShellAgent

pytestmark = pytest.mark.unit
PATH = "/usr/local/bin:/usr/bin:/bin"


async def run(command: str | list[str], tmp_path: Path, **kwargs: object) -> shell.ShellOutcome:
    agent = ShellAgent.model_validate({"command": command})
    options: dict[str, object] = {"stdin": "", "timeout": 30.0, "output_limit": 1_000_000}
    options.update(kwargs)
    return await shell.execute(
        agent,
        executable=shell.resolve(agent, lambda _: True, PATH),
        cwd=tmp_path,
        path=PATH,
        **options,  # type: ignore[arg-type]
    )


async def test_stdout_stdin_and_exit_code(tmp_path: Path) -> None:
    outcome = await run("tr a-z A-Z", tmp_path, stdin="hello")
    assert (outcome.stdout, outcome.exit_code, outcome.truncated) == ("HELLO", 0, False)
    failed = await run(["ls", "/no/such/dir"], tmp_path)
    assert failed.exit_code == 2 and "No such file" in failed.stderr


async def test_runs_in_the_working_directory_with_a_scrubbed_environment(tmp_path: Path) -> None:
    script = "import os, json; print(json.dumps([os.getcwd(), sorted(os.environ)]))"
    outcome = await run(["python3", "-c", script], tmp_path, extra_env={"ACC_RUN_ID": "r1"})
    cwd, names = __import__("json").loads(outcome.stdout)
    assert cwd == str(tmp_path)
    assert set(names) <= {"PATH", "HOME", "LANG", "ACC_RUN_ID", "LC_CTYPE", "ACC_STEP_OWNER"}


async def test_output_over_the_limit_is_truncated(tmp_path: Path) -> None:
    outcome = await run(["python3", "-c", "print('z' * 100000)"], tmp_path, output_limit=1000)
    assert outcome.truncated and len(outcome.stdout) == 1000 and outcome.exit_code == 0


async def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child"
    script = (
        "import subprocess, pathlib; p = subprocess.Popen(['sleep', '300']); "
        f"pathlib.Path({str(pidfile)!r}).write_text(str(p.pid)); p.wait()"
    )
    with pytest.raises(shell.CommandTimedOut, match="timed out after 1s"):
        await run(["python3", "-c", script], tmp_path, timeout=1.0)
    child = int(pidfile.read_text())
    await asyncio.sleep(0.1)
    assert not pid_alive(child)


async def test_a_background_leftover_does_not_hold_the_step_open(tmp_path: Path) -> None:
    pidfile = tmp_path / "leftover"
    script = (
        "import subprocess, pathlib; p = subprocess.Popen(['sleep', '300']); "
        f"pathlib.Path({str(pidfile)!r}).write_text(str(p.pid)); print('done')"
    )
    outcome = await run(["python3", "-c", script], tmp_path, timeout=30.0)
    assert outcome.stdout == "done\n" and outcome.exit_code == 0
    assert outcome.duration_ms < 10_000  # not the 30 s timeout
    await asyncio.sleep(0.1)
    assert not pid_alive(int(pidfile.read_text()))


async def test_cancellation_kills_the_process(tmp_path: Path) -> None:
    task = asyncio.create_task(run(["sleep", "300"], tmp_path))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_commands_outside_the_allow_list_are_rejected() -> None:
    agent = ShellAgent.model_validate({"command": "rm -rf /"})
    with pytest.raises(shell.CommandRejected, match="not in ACC_SHELL_ALLOWED_COMMANDS"):
        shell.resolve(agent, lambda name: name == "echo", PATH)
    missing = ShellAgent.model_validate({"command": "no-such-tool-xyz"})
    with pytest.raises(shell.CommandRejected, match="not found on PATH"):
        shell.resolve(missing, lambda _: True, PATH)


def test_a_path_does_not_sneak_past_the_allow_list() -> None:
    agent = ShellAgent.model_validate({"command": "/tmp/evil/echo"})
    with pytest.raises(shell.CommandRejected):
        shell.resolve(agent, lambda name: name == "echo", PATH)


async def test_a_step_dies_with_its_worker_and_the_next_worker_reaps_what_is_left(
    tmp_path: Path,
) -> None:
    """A stand-in worker process runs a step that starts a grandchild, then is killed with
    SIGKILL: the step's process dies at once (parent-death signal), the grandchild lives on
    until a worker starting later reaps it."""
    pids = tmp_path / "pids"
    step = (
        "import subprocess, pathlib, os, time; c = subprocess.Popen(['sleep', '300']); "
        f"pathlib.Path({str(pids)!r}).write_text(f'{{os.getpid()}} {{c.pid}}'); time.sleep(300)"
    )
    worker = (
        "import asyncio, sys; from pathlib import Path; from agents.backends import shell\n"
        "from core.specs import ShellAgent\n"
        f"agent = ShellAgent(command=['python3', '-c', {step!r}])\n"
        "asyncio.run(shell.execute(agent, executable='/usr/bin/python3', stdin='', "
        f"cwd=Path({str(tmp_path)!r}), path='/usr/bin:/bin', timeout=300, output_limit=1000))\n"
    )
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", worker)
    for _ in range(600):
        if pids.exists() and " " in pids.read_text():
            break
        await asyncio.sleep(0.05)
    step_pid, grandchild = map(int, pids.read_text().split())
    proc.kill()
    await proc.wait()
    for _ in range(200):
        if not pid_alive(step_pid):
            break
        await asyncio.sleep(0.05)
    assert not pid_alive(step_pid)  # the parent-death signal
    assert pid_alive(grandchild)  # reparented: only reaping reaches it
    assert grandchild in process.reap_orphans()
    for _ in range(100):
        if not pid_alive(grandchild):
            break
        await asyncio.sleep(0.05)
    assert not pid_alive(grandchild)
    assert process.reap_orphans() == []  # a live worker's processes are left alone
