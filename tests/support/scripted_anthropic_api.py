"""STAND-IN for the model: a local Anthropic Messages API whose answers are scripted.

The real Claude Code CLI runs against it (`ANTHROPIC_BASE_URL=server.url`): the CLI's tool
execution, permissions, sessions and `--resume` are real, only the model's turns come from
a script. A script is chosen by a marker string found in the conversation's first user
message (the CLI's prompt), and its turn is the number of assistant messages already in the
request's history, so a resumed session carries on where its last turn stopped and a retry
of the same request gets the same turn. (When the CLI resumes a session whose last turn
never came, it first adds an assistant message of its own, "No response requested.", which
counts as a turn: the unanswered turn's slot is skipped.)

A turn can stream text and tool uses (Write, Edit, Bash, Read...), report the tokens it
"used" (fresh input, cache writes for 5 minutes or 1 hour, cache reads, output), fail a
number of times before it answers (401, 429 with Retry-After, 529, 500), stream slowly, or
stall after its first event. Requests without tools (the CLI's side calls, e.g. a session
title) get a short fixed answer that is counted too.

    api = ScriptedAnthropicApi()
    api.script("[demo]", say_after_writing("notes.md", "hi\\n", "Wrote notes.md."))
    with api:
        ...  # run `claude -p "... [demo]"` with ANTHROPIC_BASE_URL=api.url
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass(frozen=True)
class Tokens:
    """What a turn reports in `usage`: `cache_write` includes `cache_write_1h`."""

    input: int = 40
    output: int = 30
    cache_write: int = 0
    cache_write_1h: int = 0
    cache_read: int = 0

    def usage(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input,
            "output_tokens": 1,  # message_start's; the final count comes in message_delta
            "cache_creation_input_tokens": self.cache_write,
            "cache_read_input_tokens": self.cache_read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.cache_write - self.cache_write_1h,
                "ephemeral_1h_input_tokens": self.cache_write_1h,
            },
        }


@dataclass(frozen=True)
class ToolUse:
    name: str
    input: dict[str, Any]


@dataclass(frozen=True)
class Failure:
    """An HTTP error answered instead of the turn, `times` attempts in a row (None: always)."""

    status: int
    message: str = "scripted failure"
    retry_after: float | None = None
    times: int | None = 1


@dataclass(frozen=True)
class Turn:
    text: str = ""
    tools: tuple[ToolUse, ...] = ()
    tokens: Tokens = Tokens()
    failure: Failure | None = None
    delay: float = 0.0  # seconds between stream events: a slow stream
    stall: bool = False  # send message_start, then nothing until the client gives up


@dataclass
class Script:
    marker: str
    turns: list[Turn]


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    script: str | None
    turn: int | None
    status: int = 200


def say(text: str, **kwargs: Any) -> Turn:
    return Turn(text=text, **kwargs)


def use(name: str, text: str = "", tokens: Tokens | None = None, **tool_input: Any) -> Turn:
    """One tool use, e.g. `use("Write", file_path="a.py", content="...")`."""
    return Turn(text=text, tools=(ToolUse(name, tool_input),), tokens=tokens or Tokens())


class ScriptedAnthropicApi:
    """The server; see the module docstring. Thread-safe enough for one CLI at a time per
    script (the counters are only touched from the server's event loop)."""

    def __init__(self) -> None:
        self.scripts: list[Script] = []
        self.requests: list[Recorded] = []
        self.url = ""
        self._failures: Counter[tuple[str, int]] = Counter()
        self._answered = 0  # message ids are unique per response, as the real API's are
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def script(self, marker: str, *turns: Turn) -> str:
        """Answer conversations whose first user message contains `marker` with `turns`."""
        self.scripts = [s for s in self.scripts if s.marker != marker]
        self.scripts.append(Script(marker, list(turns)))
        return marker

    def requests_for(self, marker: str) -> list[Recorded]:
        return [r for r in self.requests if r.script == marker]

    # -- the HTTP side ----------------------------------------------------------------

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/messages")
        async def messages(request: Request) -> Response:
            body: dict[str, Any] = await request.json()
            return await self._answer(request, body)

        @app.api_route("/{path:path}", methods=["GET", "HEAD", "POST"])
        async def other(path: str) -> Response:
            return JSONResponse({})  # the CLI's reachability probe and other side calls

        return app

    async def _answer(self, request: Request, body: dict[str, Any]) -> Response:
        model = str(body.get("model", "unknown"))
        script = self._script_for(body) if body.get("tools") else None
        turn_index = sum(1 for m in body.get("messages", []) if m.get("role") == "assistant")
        record = Recorded(
            request.url.path,
            dict(request.headers),
            body,
            script.marker if script else None,
            turn_index if script else None,
        )
        self.requests.append(record)
        if not body.get("tools"):  # a side call: title, summary, prefix check
            turn = say("ok", tokens=Tokens(input=25, output=5))
        elif script is None:
            turn = say("no script matches this conversation's first message")
        elif turn_index >= len(script.turns):
            turn = say(f"script {script.marker} has no turn {turn_index}")
        else:
            turn = script.turns[turn_index]
        failure = turn.failure
        key = (script.marker if script else "", turn_index)
        if failure is not None and (failure.times is None or self._failures[key] < failure.times):
            self._failures[key] += 1
            record.status = failure.status
            return _error(failure)
        self._answered += 1
        message_id = f"msg_scripted_{self._answered:06d}"
        if not body.get("stream"):
            return JSONResponse(_message(turn, model, message_id, turn_index))
        events = _events(turn, model, message_id, turn_index)
        return StreamingResponse(events, media_type="text/event-stream")

    def _script_for(self, body: dict[str, Any]) -> Script | None:
        first = next((m for m in body.get("messages", []) if m.get("role") == "user"), None)
        text = _texts(first["content"]) if first else ""
        return next((s for s in self.scripts if s.marker in text), None)

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(
            self.app(), log_level="warning", lifespan="off", timeout_graceful_shutdown=1
        )
        server = self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the scripted Anthropic API did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._server.force_exit = True  # stalled streams must not hold the shutdown
            self._thread.join(timeout=10)

    def __enter__(self) -> ScriptedAnthropicApi:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _texts(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(block.get("text", "")) for block in content if isinstance(block, dict))
    return ""


def _error(failure: Failure) -> JSONResponse:
    kind = ERROR_TYPES.get(failure.status, "api_error")
    headers = {}
    if failure.retry_after is not None:
        headers["retry-after"] = f"{failure.retry_after:g}"
    if failure.status == 429:
        headers["anthropic-ratelimit-requests-remaining"] = "0"
    return JSONResponse(
        {"type": "error", "error": {"type": kind, "message": failure.message}},
        status_code=failure.status,
        headers=headers,
    )


def _blocks(turn: Turn, turn_index: int) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if turn.text:
        blocks.append({"type": "text", "text": turn.text})
    for n, tool in enumerate(turn.tools):
        tool_id = f"toolu_scripted_{turn_index}_{n}"
        blocks.append({"type": "tool_use", "id": tool_id, "name": tool.name, "input": tool.input})
    return blocks


def _message(turn: Turn, model: str, message_id: str, turn_index: int) -> dict[str, Any]:
    usage = turn.tokens.usage() | {"output_tokens": turn.tokens.output}
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _blocks(turn, turn_index),
        "stop_reason": "tool_use" if turn.tools else "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }


async def _events(turn: Turn, model: str, message_id: str, turn_index: int) -> AsyncIterator[str]:
    def event(kind: str, data: dict[str, Any]) -> str:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"

    start = _message(turn, model, message_id, turn_index) | {"content": [], "stop_reason": None}
    start["usage"] = turn.tokens.usage()
    yield event("message_start", {"message": start})
    if turn.stall:
        await asyncio.sleep(3600)
    for index, block in enumerate(_blocks(turn, turn_index)):
        await asyncio.sleep(turn.delay)
        if block["type"] == "text":
            yield event(
                "content_block_start",
                {"index": index, "content_block": {"type": "text", "text": ""}},
            )
            delta = {"type": "text_delta", "text": block["text"]}
        else:
            empty = {**block, "input": {}}
            yield event("content_block_start", {"index": index, "content_block": empty})
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        await asyncio.sleep(turn.delay)
        yield event("content_block_delta", {"index": index, "delta": delta})
        yield event("content_block_stop", {"index": index})
    await asyncio.sleep(turn.delay)
    stop = "tool_use" if turn.tools else "end_turn"
    yield event(
        "message_delta",
        {
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": turn.tokens.output},
        },
    )
    yield event("message_stop", {})
