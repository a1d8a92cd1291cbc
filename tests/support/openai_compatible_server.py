"""A real HTTP server speaking the OpenAI chat-completions and Anthropic messages APIs.

It answers deterministically: the reply is the last user message upper-cased, cut to
`max_tokens` words; a token is a whitespace-separated word. A test that needs a model's
answer of a given shape queues it in `replies`: each request then takes the next one, as
is, until the queue is empty. Every request is recorded in `requests` so tests can check
what the SDK actually sent.

Words in the user message steer it:
- `FAIL <status>` answers that HTTP status with the provider's error body; a 429 or 5xx carries
  `Retry-After: <retry_after>` (the attribute, seconds or an HTTP date) when it is set.
- `SLEEP <seconds>` waits that long before answering.
- `CACHED <n>` reports n of the prompt's tokens as read from the provider's prompt cache
  (OpenAI: `prompt_tokens_details.cached_tokens`, part of `prompt_tokens`; Anthropic:
  `cache_read_input_tokens`, apart from `input_tokens`); `WRITTEN <n>` reports n tokens
  written to Anthropic's cache (`cache_creation_input_tokens`).

    with OpenAICompatibleServer() as server:
        AsyncOpenAI(base_url=f"{server.url}/v1", api_key="x")  # Anthropic: base_url=server.url
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

FAIL = re.compile(r"\bFAIL (\d{3})\b")
SLEEP = re.compile(r"\bSLEEP (\d+(?:\.\d+)?)\b")
CACHED = re.compile(r"\bCACHED (\d+)\b")
WRITTEN = re.compile(r"\bWRITTEN (\d+)\b")


def _count(pattern: re.Pattern[str], text: str) -> int:
    found = pattern.search(text)
    return int(found.group(1)) if found else 0


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class OpenAICompatibleServer:
    retry_after: str | None = "7"
    requests: list[Recorded] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat_completions(request: Request) -> JSONResponse:
            body = await self._record(request)
            messages = body["messages"]
            user = next(m["content"] for m in reversed(messages) if m["role"] == "user")
            if failure := await self._steer(user, "openai"):
                return failure
            limit = body.get("max_completion_tokens") or body.get("max_tokens") or 1 << 30
            words, text = self._answer(user, limit)
            prompt_tokens = sum(len(str(m["content"]).split()) for m in messages)
            return JSONResponse(
                {
                    "id": f"chatcmpl-{len(self.requests)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "length" if len(words) > limit else "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": min(len(words), limit),
                        "total_tokens": prompt_tokens + min(len(words), limit),
                        "prompt_tokens_details": {"cached_tokens": _count(CACHED, user)},
                    },
                }
            )

        @app.post("/v1/messages")
        async def messages(request: Request) -> JSONResponse:
            body = await self._record(request)
            user = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
            if failure := await self._steer(user, "anthropic"):
                return failure
            limit = body["max_tokens"]
            words, text = self._answer(user, limit)
            input_tokens = len(user.split()) + len(str(body.get("system", "")).split())
            return JSONResponse(
                {
                    "id": f"msg_{len(self.requests)}",
                    "type": "message",
                    "role": "assistant",
                    "model": body["model"],
                    "content": [{"type": "text", "text": text}],
                    "stop_reason": "max_tokens" if len(words) > limit else "end_turn",
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": input_tokens,
                        "output_tokens": min(len(words), limit),
                        "cache_read_input_tokens": _count(CACHED, user),
                        "cache_creation_input_tokens": _count(WRITTEN, user),
                    },
                }
            )

        return app

    def _answer(self, user: str, limit: int) -> tuple[list[str], str]:
        """The reply's words (for the token counts) and its text."""
        if self.replies:
            reply = self.replies.pop(0)
            return reply.split(), reply
        words = user.upper().split()
        return words, " ".join(words[:limit])

    async def _record(self, request: Request) -> dict[str, Any]:
        body: dict[str, Any] = await request.json()
        self.requests.append(Recorded(request.url.path, dict(request.headers), body))
        return body

    async def _steer(self, user: str, dialect: str) -> JSONResponse | None:
        if sleep := SLEEP.search(user):
            await asyncio.sleep(float(sleep.group(1)))
        fail = FAIL.search(user)
        if fail is None:
            return None
        status = int(fail.group(1))
        message = f"told to fail with {status}"
        if dialect == "openai":
            content: dict[str, Any] = {"error": {"message": message, "type": "test", "code": None}}
        else:
            content = {"type": "error", "error": {"type": "test_error", "message": message}}
        headers = {}
        if self.retry_after is not None and (status == 429 or status >= 500):
            headers["retry-after"] = self.retry_after
        return JSONResponse(content, status_code=status, headers=headers)

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
                raise RuntimeError("the test LLM server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)

    def __enter__(self) -> OpenAICompatibleServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
