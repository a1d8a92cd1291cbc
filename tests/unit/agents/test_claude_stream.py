"""The claude_code backend's reading of the CLI's stream-json: transcripts recorded from the
real CLI (tests/support/transcripts/, by tests/support/record_claude_transcripts.py), and a
few hand-made lines for what a recording cannot show (noise, cut lines). No processes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from agents.backends.claude_code import Session, _pump, cli_arguments
from agents.backends.claude_stream import EXCERPT_CHARS, ClaudeStream
from agents.base import AgentContext
from core.contracts import AgentTask
from core.specs import ClaudeCodeAgent

pytestmark = pytest.mark.unit
TRANSCRIPTS = Path(__file__).resolve().parents[2] / "support" / "transcripts"


def replay(name: str) -> tuple[ClaudeStream, list[dict[str, Any]]]:
    stream = ClaudeStream()
    events = []
    for line in (TRANSCRIPTS / f"{name}.jsonl").read_text().splitlines():
        events += stream.feed(line)
    return stream, events


def line(**message: object) -> str:
    return json.dumps(message)


def test_transcripts_are_recordings_of_the_pinned_cli() -> None:
    pinned = json.loads((TRANSCRIPTS.parent / "claude-cli" / "package.json").read_text())
    version = pinned["dependencies"]["@anthropic-ai/claude-code"]
    for path in sorted(TRANSCRIPTS.glob("*.jsonl")):
        header = json.loads(path.read_text().splitlines()[0])
        assert header["type"] == "acc_recording", path.name
        assert header["recorded_by"] == "tests/support/record_claude_transcripts.py"
        assert header["cli_version"] == version, path.name


def test_a_run_that_edits_files() -> None:
    stream, events = replay("edit-files")
    assert not stream.is_error and stream.text == "Added calc.py."
    assert stream.model == "claude-sonnet-4-5" and stream.version == "2.1.197"
    assert [(e["part"], e.get("tool")) for e in events] == [
        ("session", None),
        ("text", None),
        ("tool_use", "Write"),
        ("tool_use", "Edit"),
        ("tool_use", "Bash"),
        ("text", None),
    ]
    assert events[0]["text"].startswith(f"session {stream.session_id} · claude-sonnet-4-5")
    assert events[3] == {
        "part": "tool_use",
        "role": "assistant",
        "tool": "Edit",
        "text": '{"replace_all": false, "file_path": "calc.py", "old_string": "x = 1", '
        '"new_string": "x = 2"}',
    }
    assert stream.denials == [] and stream.retries == []


def test_a_subagents_turns_are_labelled_and_its_model_counted() -> None:
    stream, events = replay("subagent-two-models")
    # The subagent's own answer comes back as the Agent tool's result, not as a turn.
    assert [(e["part"], e.get("agent")) for e in events if e["role"] == "assistant"] == [
        ("tool_use", None),
        ("tool_use", "Explore"),
        ("text", None),
    ]
    usage = stream.model_usage()
    assert sorted(usage) == ["claude-haiku-4-5-20251001", "claude-sonnet-4-6"]
    main = usage["claude-sonnet-4-6"].tokens
    assert (main.cache_write, main.cache_write_1h) == (30_000, 30_000)
    assert usage["claude-haiku-4-5-20251001"].tokens.cache_write_1h == 0
    # The result's `usage` covers the main loop only; modelUsage has the subagent too.
    assert stream.result is not None and stream.result["usage"]["input_tokens"] == 140


def test_refused_tools_are_listed_and_shown() -> None:
    stream, events = replay("permission-denied")
    assert not stream.is_error  # the CLI itself calls this a success
    (denial,) = stream.denials
    assert denial["tool_name"] == "Write" and denial["tool_input"]["file_path"].endswith("app.py")
    (refused,) = [e for e in events if e["part"] == "tool_error"]
    assert "requested permissions to write" in refused["text"]


@pytest.mark.parametrize(
    ("name", "status", "retries"),
    [("rate-limited", 429, 1), ("overloaded", 529, 1), ("api-unreachable", None, 2)],
)
def test_api_failures_and_the_clis_retries(name: str, status: int | None, retries: int) -> None:
    stream, events = replay(name)
    assert stream.is_error and stream.subtype == "success" and stream.api_status == status
    assert stream.text.startswith("API Error")
    assert [r.status for r in stream.retries] == [status] * retries
    assert [e["part"] for e in events if e["role"] == "system"][1:] == ["retry"] * retries
    assert [e["part"] for e in events if e["role"] == "assistant"] == ["error"]


def test_the_retry_after_the_cli_saw_is_kept() -> None:
    stream, events = replay("rate-limited")
    assert stream.retries[0].delay_seconds == 1.0
    assert events[1]["text"] == "API error 429 (rate_limit): retry 1 of 1 in 1.0s"


def test_limits_and_unknown_sessions_end_with_their_subtype_and_errors() -> None:
    turns, _ = replay("max-turns")
    assert (
        turns.subtype == "error_max_turns" and turns.text == "Reached maximum number of turns (1)"
    )
    budget, _ = replay("budget-exceeded")
    assert budget.subtype == "error_max_budget_usd" and budget.cli_cost_usd > 0.25
    unknown, events = replay("unknown-session")
    assert unknown.subtype == "error_during_execution" and events == []
    assert unknown.text.startswith("No conversation found with session ID: ")


def test_login_failures() -> None:
    missing, _ = replay("not-logged-in")
    assert missing.auth_failed and missing.api_status is None
    assert missing.text == "Not logged in · Please run /login"
    refused, _ = replay("auth-failed")
    assert refused.auth_failed and refused.api_status == 401


def test_noise_and_odd_lines_are_tolerated() -> None:
    stream = ClaudeStream()
    for odd in ["", "  ", "Warning: x", "npm WARN old", "[1, 2]", "42", "{not json", '"text"']:
        assert stream.feed(odd) == []
    assert list(stream.noise) == ["npm WARN old", "[1, 2]", "42", "{not json", '"text"']
    assert stream.feed(line(type="stream_event", event={"type": "message_start"})) == []
    assert stream.feed(line(type="assistant", message=None)) == []
    assert stream.feed(line(type="assistant", message={"content": [None, 3, {"type": "x"}]})) == []
    assert stream.feed(line(type="assistant", message={"content": "plain"})) == [
        {"part": "text", "role": "assistant", "text": "plain"}
    ]
    assert stream.feed(line(type="result", modelUsage={"m": None}, permission_denials=[3])) == []
    assert stream.model_usage() == {} and stream.denials == [] and stream.text == ""


def test_long_text_and_tool_input_are_cut_to_an_excerpt() -> None:
    content = [
        {"type": "text", "text": "x" * 10_000},
        {"type": "tool_use", "id": "t", "name": "Write", "input": {"content": "y" * 10_000}},
    ]
    text, tool = ClaudeStream().feed(line(type="assistant", message={"content": content}))
    assert len(text["text"]) == len(tool["text"]) == EXCERPT_CHARS
    assert text["text"].endswith("…") and tool["tool"] == "Write"


def test_cli_arguments() -> None:
    bare = ClaudeCodeAgent(prompt="p", repo="/r")
    assert cli_arguments(bare, Session(new="s-1"), []) == [
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--permission-mode",
        "default",
        "--session-id=s-1",
    ]
    full = ClaudeCodeAgent(
        prompt="p",
        repo="/r",
        model="opus",
        permission_mode="acceptEdits",
        allowed_tools=["Read", "Bash(git log:*)"],
        disallowed_tools=["WebFetch"],
        max_turns=3,
        max_budget_usd=1.5,
        append_system_prompt="Be brief.",
    )
    assert cli_arguments(full, Session(resume="s-2"), [Path("/w/worker")])[4:] == [
        "--permission-mode",
        "acceptEdits",
        "--model",
        "opus",
        "--allowedTools",
        "Read,Bash(git log:*)",
        "--disallowedTools",
        "WebFetch",
        "--max-turns",
        "3",
        "--max-budget-usd",
        "1.5",
        "--append-system-prompt=Be brief.",
        "--add-dir=/w/worker",
        "--resume=s-2",
    ]


async def test_reading_skips_lines_over_the_limit_and_beats_per_line() -> None:
    emitted: list[tuple[str, dict[str, Any]]] = []
    beats: list[object] = []

    async def emit(kind: str, data: dict[str, Any]) -> None:
        emitted.append((kind, data))

    agent = ClaudeCodeAgent(prompt="p", repo="/r")
    task = AgentTask(run_id="r", tenant="t", step_index=0, step_name="s", agent=agent)
    ctx = AgentContext(task, "", Path("/w"), lambda *a: beats.append(a), emit)
    hello = line(type="assistant", message={"content": [{"type": "text", "text": "hello"}]})
    reader = asyncio.StreamReader(limit=len(hello) + 10)
    huge = line(type="assistant", message={"content": [{"type": "text", "text": "x" * 500}]})
    for chunk in (hello, huge, hello, line(type="result", is_error=False, result="done")):
        reader.feed_data(chunk.encode() + b"\n")
    reader.feed_eof()
    stream = ClaudeStream()
    await _pump(reader, stream, ctx)
    assert [data["text"] for _, data in emitted] == ["hello", "hello"]
    assert {kind for kind, _ in emitted} == {"agent.message"}
    assert stream.text == "done" and len(beats) >= 3
