"""The shell backend's sandbox (bubblewrap, as nobody), against every escape seen before it:
each ran arbitrary commands or read what a step must not. Allowed commands still run any
program (`sh -c`, awk's system(), sed's `e`, git aliases, python3); inside the sandbox
that reaches nothing: not the worker's environment, not another run, not acc's databases,
not the network, not /etc/shadow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from agents import sandbox
from agents.backends.shell import ShellBackend
from agents.base import AgentContext
from core.contracts import AgentTask
from core.settings import load_settings
from core.specs import parse_spec

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not sandbox.available(), reason="bubblewrap is not installed"),
]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "runs" / "other-run").mkdir(parents=True)
    (root / "runs" / "other-run" / "notes.txt").write_text("another run's secret")
    (root / "acc.db").write_text("database")
    (root / "temporal.db").write_text("history")
    return root


async def run(data: Path, command: list[str], **agent: Any) -> tuple[int, str]:
    settings = load_settings(DATA_DIR=data, SANDBOX="on", SHELL_ALLOWED_COMMANDS="*")
    task = AgentTask.model_validate(
        {
            "run_id": "this-run",
            "tenant": "t",
            "step_index": 0,
            "step_name": "s",
            "agent": {"backend": "shell", "command": command, **agent},
        }
    )
    ctx = AgentContext(task, "", data / "runs" / "this-run", lambda: None, _emit)
    outcome = await ShellBackend(settings).run(ctx)
    return outcome.exit_code, outcome.text + outcome.stderr


async def _emit(kind: str, payload: dict[str, Any]) -> None:
    pass


@pytest.mark.parametrize(
    ("command", "secret"),
    [
        (["sh", "-c", "cat /etc/shadow"], "root:"),
        (["awk", 'BEGIN{system("cat ../other-run/notes.txt")}'], "another run's secret"),
        (["sed", "-n", "1e cat ../../acc.db", "/dev/null"], "database"),
        (["git", "-c", "alias.x=!cat ../../temporal.db", "x"], "history"),
        (
            ["python3", "-c", "import os; print(open(f'/proc/{os.getppid()}/environ').read())"],
            "SHELL=",
        ),
        (["python3", "-c", "import socket; socket.create_connection(('127.0.0.1', 6379), 1)"], ""),
        (["sh", "-c", "ls /root /work /home 2>&1; echo $ACC_REDIS_URL"], "redis"),
    ],
)
async def test_an_escape_that_once_worked_reaches_nothing(
    data: Path, command: list[str], secret: str
) -> None:
    code, out = await run(data, command)
    if secret:
        assert secret not in out
    else:
        assert code != 0  # the connection was refused: no network
    assert not (data / "leak").exists()


async def test_the_run_directory_is_the_only_writable_place(data: Path) -> None:
    script = (
        "import os; open('made-here', 'w').write('ok'); "
        "[print(p, os.access(p, os.W_OK)) for p in ('/usr', '/etc', '/tmp', '..')]"
    )
    code, out = await run(data, ["python3", "-c", script])
    assert code == 0, out
    assert (data / "runs" / "this-run" / "made-here").read_text() == "ok"
    assert "/usr False" in out and "/etc False" in out and ".. False" in out
    assert "/tmp True" in out  # a private, empty /tmp


async def test_a_step_whose_spec_allows_the_network_reaches_it(data: Path) -> None:
    probe = "import socket; print(socket.socket().connect_ex(('127.0.0.1', 9)))"
    code, out = await run(data, ["python3", "-c", probe], network=True)
    assert code == 0 and out.strip() == "111"  # refused by the host: the host was reached


def test_a_step_cannot_set_the_loader_or_path_variables() -> None:
    for name in ("LD_PRELOAD", "LD_LIBRARY_PATH", "PATH", "PYTHONPATH", "BASH_ENV"):
        spec = {
            "name": "x",
            "steps": [
                {
                    "name": "s",
                    "agent": {"backend": "shell", "command": "true", "env": {name: "/tmp/evil"}},
                }
            ],
        }
        with pytest.raises(ValueError, match=name):
            parse_spec(spec)


async def test_without_bubblewrap_a_sandbox_that_is_required_refuses_the_step(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox, "available", lambda: False)
    with pytest.raises(ApplicationError) as caught:
        await run(data, ["true"])
    assert caught.value.type == "SandboxUnavailable" and caught.value.non_retryable
    assert "bubblewrap" in caught.value.message and "ACC_SANDBOX" in caught.value.message
