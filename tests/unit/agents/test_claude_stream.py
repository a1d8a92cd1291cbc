"""The stream-json parser of the claude_code backend, fed lines directly: no processes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from agents.backends.claude_code import EXCERPT_CHARS, ClaudeStream, _pump, cli_arguments
from agents.base import AgentContext
from core.contracts import AgentTask, Usage
from core.specs import ClaudeCodeAgent

pytestmark = pytest.mark.unit
TRANSCRIPTS = Path(__file__).resolve().parents[2] / "support" / "transcripts"


def replay(name: str) -> tuple[ClaudeStream, list[dict[str, object]]]:
    """Feed a recorded transcript (its stand-in directives left out) through a parser."""
    stream = ClaudeStream()
    events = []
    for line in (TRANSCRIPTS / f"{name}.jsonl").read_text().splitlines():
        if not line.startswith("//"):
            events += stream.feed(line.replace("{session_id}", "s-1").replace("{cwd}", "/w"))
    return stream, events


def line(**message: object) -> str:
    return json.dumps(message)


def test_a_successful_transcript() -> None:
    stream, events = replay("success")
    assert stream.session_id == "s-1"
    assert not stream.is_error and not stream.login_problem()
    assert stream.text == "Added NOTES.md with a short description of the repository."
    assert stream.usage == Usage(
        input_tokens=16 + 5744 + 49386, output_tokens=222, cost_usd=0.0418362
    )
    assert [(e["kind"], e.get("tool")) for e in events] == [
        ("text", None),
        ("tool_use", "Bash"),
        ("tool_use", "Write"),
        ("text", None),
    ]
    assert events[1] == {
        "role": "assistant",
        "kind": "tool_use",
        "tool": "Bash",
        "text": '{"command": "ls", "description": "List files in the repository"}',
    }


def test_an_error_result_without_result_text_gives_the_cli_errors() -> None:
    stream, _ = replay("max_turns")
    assert stream.is_error and not stream.login_problem()
    assert stream.text == "Reached maximum number of turns (1)"
    assert stream.usage.cost_usd == pytest.approx(0.0231757)
    bare = ClaudeStream()
    bare.feed(line(type="result", subtype="error_during_execution", is_error=True))
    assert bare.text == "error_during_execution" and bare.usage == Usage()


def test_not_logged_in_is_recognised_from_the_stream() -> None:
    stream, events = replay("not_logged_in")
    assert stream.auth_failed and stream.login_problem()
    assert stream.text == "Not logged in · Please run /login"
    assert events == [
        {"role": "assistant", "kind": "text", "text": "Not logged in · Please run /login"}
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Invalid API key · Please run /login",
        "Failed to authenticate. API Error: 401 Invalid authentication credentials",
        "OAuth token has expired. Please obtain a new token or refresh your existing token.",
    ],
)
def test_login_problems_in_an_error_result(text: str) -> None:
    stream = ClaudeStream()
    stream.feed(line(type="result", subtype="success", is_error=True, result=text))
    assert stream.login_problem()


def test_login_problems_without_a_result_come_from_noise_or_stderr() -> None:
    stream = ClaudeStream()
    stream.feed("Invalid API key · Please run /login")
    assert stream.result is None and stream.login_problem()
    assert ClaudeStream().login_problem(stderr="Error: Invalid API key\n")
    assert not ClaudeStream().login_problem(stderr="No conversation found with session ID: x")


def test_a_successful_answer_about_logins_is_not_a_login_problem() -> None:
    stream = ClaudeStream()
    answer = "Fixed the 'Please run /login' banner and the Invalid API key message."
    stream.feed(line(type="result", subtype="success", is_error=False, result=answer))
    assert not stream.login_problem() and stream.text == answer


def test_noise_and_odd_lines_are_tolerated() -> None:
    stream = ClaudeStream()
    for odd in ["", "  ", "Warning: x", "npm WARN old", "[1, 2]", "42", "{not json", '"text"']:
        assert stream.feed(odd) == []
    assert list(stream.noise) == ["npm WARN old", "[1, 2]", "42", "{not json", '"text"']
    assert stream.feed(line(type="stream_event", event={"type": "message_start"})) == []
    assert stream.feed(line(type="assistant", message=None)) == []
    assert stream.feed(line(type="assistant", message={"content": [None, 3, {"type": "x"}]})) == []
    assert stream.feed(line(type="assistant", message={"content": "plain string"})) == [
        {"role": "assistant", "kind": "text", "text": "plain string"}
    ]
    assert stream.result is None and stream.is_error and stream.text == ""
    assert stream.session_id is None


def test_thinking_and_tool_results_are_not_emitted_but_session_ids_are_kept() -> None:
    stream = ClaudeStream()
    thinking = {"content": [{"type": "thinking", "thinking": "hmm", "signature": "x"}]}
    assert stream.feed(line(type="assistant", message=thinking, session_id="a")) == []
    result = {"content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}]}
    assert stream.feed(line(type="user", message=result, session_id="b")) == []
    assert stream.session_id == "b"


def test_long_text_and_tool_input_are_cut_to_an_excerpt() -> None:
    stream = ClaudeStream()
    content = [
        {"type": "text", "text": "x" * 10_000},
        {"type": "tool_use", "id": "t", "name": "Write", "input": {"content": "y" * 10_000}},
    ]
    text, tool = stream.feed(line(type="assistant", message={"content": content}))
    assert len(text["text"]) == len(tool["text"]) == EXCERPT_CHARS
    assert text["text"].endswith("…") and tool["tool"] == "Write"


def test_usage_tolerates_missing_and_null_counters() -> None:
    stream = ClaudeStream()
    usage = {"input_tokens": 5, "cache_read_input_tokens": None, "output_tokens": 7}
    stream.feed(
        line(
            type="result",
            subtype="success",
            is_error=False,
            result="ok",
            usage=usage,
            total_cost_usd=None,
        )
    )
    assert stream.usage == Usage(input_tokens=5, output_tokens=7, cost_usd=0.0)


def test_cli_arguments() -> None:
    bare = ClaudeCodeAgent(prompt="p", repo="/r")
    assert cli_arguments(bare, None) == ["-p", "--output-format", "stream-json", "--verbose"]
    full = ClaudeCodeAgent(
        prompt="p", repo="/r", model="opus", allowed_tools=["Read", "Bash(git log:*)"], max_turns=3
    )
    assert cli_arguments(full, "sess-1")[4:] == [
        "--model",
        "opus",
        "--allowedTools",
        "Read,Bash(git log:*)",
        "--max-turns",
        "3",
        "--resume=sess-1",
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
