"""Record stream-json transcripts from the REAL Claude Code CLI (the pinned npm package in
tests/support/claude-cli/) driven against the scripted Anthropic API, into
tests/support/transcripts/<scenario>.jsonl.

    .venv/bin/python -m tests.support.record_claude_transcripts [scenario ...]

Each file's first line is a header (`"type": "acc_recording"`: the CLI version, the flags,
when), then the CLI's stdout exactly as it printed it. The unit tests read them: the parser's
events and the cost acc computes, which must equal the CLI's own `total_cost_usd`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tests.support.real_claude import CLI, installed_cli, make_repo
from tests.support.scripted_anthropic_api import (
    Failure,
    ScriptedAnthropicApi,
    Tokens,
    Turn,
    say,
    use,
)

TRANSCRIPTS = Path(__file__).resolve().parent / "transcripts"
BIG = Tokens(input=2_400, output=1_800, cache_write=24_000, cache_read=180_000)


@dataclass
class Scenario:
    turns: list[Turn]
    flags: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    subagent: list[Turn] = field(default_factory=list)  # turns of the "[subagent]" script
    api: bool = True  # False: nothing listens at ANTHROPIC_BASE_URL
    resume_unknown: bool = False


SCENARIOS: dict[str, Scenario] = {
    "edit-files": Scenario(
        [
            use("Write", "I'll add the module.", BIG, file_path="calc.py", content="x = 1\n"),
            use("Edit", file_path="calc.py", old_string="x = 1", new_string="x = 2"),
            use("Bash", command="python3 calc.py", description="run it"),
            say("Added calc.py.", tokens=Tokens(input=300, output=120, cache_read=210_000)),
        ],
        [
            *("--model", "claude-sonnet-4-5", "--permission-mode", "acceptEdits"),
            *("--allowedTools", "Bash(python3:*)"),
        ],
        {"CLAUDE_CODE_MAX_RETRIES": "0"},
    ),
    "subagent-two-models": Scenario(
        [
            use(
                "Agent",
                tokens=Tokens(input=90, output=400, cache_write=30_000, cache_write_1h=30_000),
                description="look around",
                prompt="Find the entry point [subagent]",
                subagent_type="Explore",
            ),
            say("The entry point is main.py.", tokens=Tokens(input=50, cache_read=30_000)),
        ],
        ["--model", "claude-sonnet-4-6", "--allowedTools", "Agent,Bash(ls:*)"],
        subagent=[
            use("Bash", command="ls", tokens=Tokens(input=500, output=60, cache_write=8_000)),
            say("main.py", tokens=Tokens(input=700, output=40, cache_read=8_000)),
        ],
    ),
    "default-model": Scenario([say("Hello.", tokens=BIG)]),
    "permission-denied": Scenario(
        [use("Write", file_path="app.py", content="print(1)\n"), say("Done!")],
        ["--model", "claude-haiku-4-5"],
    ),
    "rate-limited": Scenario(
        [Turn(failure=Failure(429, "Number of requests exceeded", retry_after=1, times=None))],
        env={"CLAUDE_CODE_MAX_RETRIES": "1"},
    ),
    "overloaded": Scenario(
        [Turn(failure=Failure(529, "Overloaded", times=None))],
        env={"CLAUDE_CODE_MAX_RETRIES": "1"},
    ),
    "auth-failed": Scenario(
        [Turn(failure=Failure(401, "invalid x-api-key", times=None))],
        env={"CLAUDE_CODE_MAX_RETRIES": "0"},
    ),
    "not-logged-in": Scenario([say("never")], env={"ANTHROPIC_API_KEY": ""}),
    "max-turns": Scenario(
        [use("Bash", command="echo 1", tokens=BIG), use("Bash", command="echo 2"), say("x")],
        ["--max-turns", "1", "--allowedTools", "Bash(echo:*)", "--model", "claude-sonnet-4-6"],
    ),
    "budget-exceeded": Scenario(
        [use("Bash", command="echo 1", tokens=BIG), say("x")],
        ["--max-budget-usd", "0.25", "--allowedTools", "Bash(echo:*)"],
    ),
    "unknown-session": Scenario([say("never")], resume_unknown=True),
    "api-unreachable": Scenario([], env={"CLAUDE_CODE_MAX_RETRIES": "2"}, api=False),
}


def record(name: str, scenario: Scenario, api: ScriptedAnthropicApi, work: Path) -> Path:
    marker = f"[{name}]"
    api.script(marker, *scenario.turns)
    if scenario.subagent:
        api.script("[subagent]", *scenario.subagent)
    repo = make_repo(work / name, {"main.py": "print('hi')\n"})
    session = ["--resume", str(uuid.uuid4())] if scenario.resume_unknown else []
    flags = ["-p", "--output-format", "stream-json", "--verbose", *scenario.flags, *session]
    url = api.url if scenario.api else "http://127.0.0.1:9"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "ACC_"))}
    env |= {
        "HOME": str(work / "home"),
        "ANTHROPIC_BASE_URL": url,
        "ANTHROPIC_API_KEY": "sk-ant-recording",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        **scenario.env,
    }
    done = subprocess.run(
        [str(CLI), *flags, "--", f"Do the task {marker}"],
        cwd=repo,
        env={k: v for k, v in env.items() if v},
        capture_output=True,
        text=True,
        timeout=120,
    )
    header = {
        "type": "acc_recording",
        "recorded_by": "tests/support/record_claude_transcripts.py",
        "scenario": name,
        "cli": "@anthropic-ai/claude-code",
        "cli_version": done_version(),
        "flags": scenario.flags + (["--resume", "<unknown id>"] if session else []),
        "exit_code": done.returncode,
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    path = TRANSCRIPTS / f"{name}.jsonl"
    path.write_text(json.dumps(header) + "\n" + done.stdout)
    return path


def done_version() -> str:
    out = subprocess.run([str(CLI), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.split()[0]


def main(names: list[str]) -> int:
    installed_cli()
    TRANSCRIPTS.mkdir(exist_ok=True)
    unknown = sorted(set(names) - set(SCENARIOS))
    if unknown:
        print(f"unknown scenarios {unknown}; known: {sorted(SCENARIOS)}", file=sys.stderr)
        return 2
    with ScriptedAnthropicApi() as api, tempfile.TemporaryDirectory() as work:
        for name in names or list(SCENARIOS):
            path = record(name, SCENARIOS[name], api, Path(work))
            print(f"recorded {path.relative_to(Path.cwd())}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
