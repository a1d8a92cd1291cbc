"""The real Claude Code CLI for tests, run offline against the scripted model.

The CLI is the npm package pinned in `tests/support/claude-cli/package.json` (and its lock
file), installed by `scripts/test.sh` with `npm ci` into the git-ignored `node_modules`
there. Its tool execution, permissions, sessions and `--resume` are real; the model's turns
come from `ScriptedAnthropicApi`. Each test gets its own HOME (where the CLI keeps its
sessions) and no credentials but the ones a test hands the backend through settings.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agents.base import AgentContext
from core.contracts import AgentTask
from core.settings import Settings, load_settings
from core.specs import ClaudeCodeAgent
from tests.support.scripted_anthropic_api import ScriptedAnthropicApi

CLI_DIR = Path(__file__).resolve().parent / "claude-cli"
CLI = CLI_DIR / "node_modules" / ".bin" / "claude"
PACKAGE = "@anthropic-ai/claude-code"
# Variables of the developer's or CI's own environment that would steer the CLI elsewhere.
FOREIGN = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_MODEL",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "CLAUDE_CONFIG_DIR",
    "IS_SANDBOX",
)


def pinned_version() -> str:
    return str(json.loads((CLI_DIR / "package.json").read_text())["dependencies"][PACKAGE])


def installed_cli() -> Path:
    """The pinned CLI, or a test failure saying how to install it."""
    install = "npm ci --prefix tests/support/claude-cli (scripts/test.sh runs it)"
    if not CLI.exists():
        pytest.fail(f"the Claude Code CLI is not installed for the tests: {install}")
    done = subprocess.run([CLI, "--version"], capture_output=True, text=True, timeout=60)
    version = done.stdout.split()[0] if done.stdout.split() else done.stderr.strip()
    if version != pinned_version():
        pytest.fail(f"{CLI} is {version!r}, not the pinned {pinned_version()}: {install}")
    return CLI


def isolate(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """The environment the CLI inherits: its own HOME, offline, no outside credentials."""
    home.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
    monkeypatch.setenv("DISABLE_AUTOUPDATER", "1")
    for name in FOREIGN:
        monkeypatch.delenv(name, raising=False)


def settings_for(api: ScriptedAnthropicApi | str, data_dir: Path, **overrides: Any) -> Settings:
    """Settings that point the backend at the real CLI and the scripted model. The CLI retries
    an API call once (its default of 10 takes minutes against a dead endpoint)."""
    url = api if isinstance(api, str) else api.url
    values: dict[str, Any] = {
        "DATA_DIR": data_dir,
        "CLAUDE_CLI": str(CLI),
        "ANTHROPIC_BASE_URL": url,
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "CLAUDE_MAX_RETRIES": 1,
        "LLM_PRICES_FILE": None,
        "PRICE_RULES": {},
        "CLAUDE_ALLOW_BYPASS_PERMISSIONS": False,
    }
    return load_settings(**(values | overrides))


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], check=True, capture_output=True, text=True)
    return done.stdout.strip()


def make_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    """A git repository with one commit holding `files` (a README by default)."""
    path.mkdir(parents=True)
    git("init", "-q", str(path))
    for name, text in (files or {"README.md": "# demo\n"}).items():
        (path / name).write_text(text)
    git("-C", str(path), "add", ".")
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    git("-C", str(path), *identity, "commit", "-q", "-m", "first")
    return path


@dataclass
class Recorder:
    """What a backend reports while it runs: heartbeats, recorded progress, events."""

    heartbeats: int = 0
    progress: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def heartbeat(self, *details: object) -> None:
        self.heartbeats += 1

    def record(self, **values: Any) -> None:
        self.progress.update(values)
        self.heartbeat()

    async def emit(self, kind: str, data: dict[str, Any]) -> None:
        # As keyword arguments, the way `run_agent` publishes them: a payload key that
        # collides with its parameters fails here as it would there.
        self._publish(kind, **data)

    def _publish(self, kind: str, task: object = None, **data: Any) -> None:
        assert task is None, "an event payload must not have a `task` key"
        self.events.append((kind, data))

    def messages(self, kind: str | None = None) -> list[dict[str, Any]]:
        found = [data for name, data in self.events if name == "agent.message"]
        return [event for event in found if kind is None or event.get("part") == kind]

    def usage(self) -> dict[str, Any]:
        (usage,) = [data for name, data in self.events if name == "agent.usage"]
        return usage


def context(
    agent: ClaudeCodeAgent,
    settings: Settings,
    recorder: Recorder,
    *,
    run_id: str = "run-1",
    step: str = "implement",
    input_text: str = "",
    timeout: float = 60,
    resumed: dict[str, Any] | None = None,
) -> AgentContext:
    task = AgentTask(
        run_id=run_id,
        tenant="default",
        step_index=0,
        step_name=step,
        agent=agent,
        timeout_seconds=timeout,
    )
    return AgentContext(
        task=task,
        input_text=input_text,
        workdir=settings.data_dir / "runs" / run_id,
        heartbeat=recorder.heartbeat,
        emit=recorder.emit,
        resumed=dict(resumed or {}),
        record=recorder.record,
    )


@pytest.fixture(scope="session")
def claude_cli() -> Path:
    return installed_cli()


@pytest.fixture
def model_api() -> Iterator[ScriptedAnthropicApi]:
    with ScriptedAnthropicApi() as api:
        yield api


@pytest.fixture
def marker() -> Callable[[], str]:
    """Unique script markers, so a test's scripts never answer another conversation."""
    return lambda: f"[script-{uuid.uuid4().hex[:8]}]"
