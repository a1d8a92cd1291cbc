"""Reading the Claude Code CLI's `--output-format stream-json --verbose` output; no I/O.

One JSON message per line: `system` (`init` with the session, model and CLI version;
`api_retry` while the CLI retries a failed API call), `assistant` and `user` turns (those of
a subagent carry `parent_tool_use_id`), and a final `result`. `ClaudeStream.feed` turns each
line into the short `agent.message` payloads a follower sees, and keeps what the step's
outcome needs: the result, the retries, the models' usage.

Usage: the result's `usage` covers the main loop only; `modelUsage` covers every call (the
main loop, subagents, side calls) per model, with the CLI's own cost. Tokens and cost are
taken from `modelUsage`. It does not split cache writes by TTL, so the 1-hour share comes
from the assistant messages' `usage.cache_creation` (one per API response, by message id).
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from agents.prices import BRACKETED, Tokens

EXCERPT_CHARS = 400
SYNTHETIC = "<synthetic>"  # the model name of messages the CLI writes itself (API errors)


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Retry:
    """One `system/api_retry` line: the CLI is about to retry a failed API call."""

    attempt: int
    max_retries: int
    delay_seconds: float
    status: int | None
    error: str

    def describe(self) -> str:
        what = f"API error {self.status}" if self.status else "API unreachable"
        return (
            f"{what} ({self.error}): retry {self.attempt} of {self.max_retries} "
            f"in {self.delay_seconds:.1f}s"
        )


@dataclass(frozen=True)
class ModelUsage:
    tokens: Tokens
    cli_cost_usd: float


@dataclass
class ClaudeStream:
    """Folds stream-json lines into events and the final result."""

    session_id: str | None = None
    model: str | None = None  # the main loop's model, as `modelUsage` names it
    version: str | None = None
    result: dict[str, Any] | None = None
    retries: list[Retry] = field(default_factory=list)
    auth_failed: bool = False  # an assistant turn flagged `"error": "authentication_failed"`
    noise: deque[str] = field(default_factory=lambda: deque(maxlen=5))  # non-JSON lines
    _one_hour: dict[tuple[str, str], int] = field(default_factory=dict)  # (model, message id)

    def feed(self, line: str) -> list[dict[str, Any]]:
        """Take one line; return the `agent.message` payloads it yields (maybe none)."""
        line = line.strip()
        if not line:
            return []
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            self.noise.append(excerpt(line))
            return []
        if isinstance(message.get("session_id"), str):
            self.session_id = message["session_id"]
        kind, subtype = message.get("type"), message.get("subtype")
        if kind == "result":
            self.result = message
        elif kind == "system" and subtype == "init":
            self.model, self.version = message.get("model"), message.get("claude_code_version")
            return [{"role": "system", "part": "session", "text": self._started(message)}]
        elif kind == "system" and subtype == "api_retry":
            retry = _retry(message)
            self.retries.append(retry)
            return [{"role": "system", "part": "retry", "text": retry.describe()}]
        elif kind == "assistant":
            return self._assistant(message)
        elif kind == "user":
            return _refusals(message)
        return []

    def _started(self, init: dict[str, Any]) -> str:
        return (
            f"session {self.session_id} · {self.model} · permission mode "
            f"{init.get('permissionMode')} · Claude Code {self.version}"
        )

    def _assistant(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        if message.get("error") == "authentication_failed":
            self.auth_failed = True
        body = message.get("message")
        body = body if isinstance(body, dict) else {}
        model = str(body.get("model") or "")
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
        breakdown = usage.get("cache_creation") if isinstance(usage, dict) else None
        if model and model != SYNTHETIC and isinstance(breakdown, dict):
            key = (model, str(body.get("id")))
            self._one_hour[key] = int(breakdown.get("ephemeral_1h_input_tokens") or 0)
        content = body.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        common = {"role": "assistant"}
        if message.get("parent_tool_use_id"):
            common["agent"] = str(message.get("subagent_type") or "subagent")
        if model == SYNTHETIC:
            common["part"] = "error"
        events: list[dict[str, Any]] = []
        for block in content if isinstance(content, list) else []:
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "text" and str(block.get("text", "")).strip():
                events.append({"part": kind, **common, "text": excerpt(block["text"])})
            elif kind == "tool_use":
                args = excerpt(json.dumps(block.get("input"), ensure_ascii=False))
                events.append({"part": kind, **common, "tool": block.get("name"), "text": args})
        return events

    # -- the result ---------------------------------------------------------------------

    @property
    def is_error(self) -> bool:
        return self.result is None or bool(self.result.get("is_error"))

    @property
    def subtype(self) -> str:
        return str((self.result or {}).get("subtype") or "")

    @property
    def api_status(self) -> int | None:
        status = (self.result or {}).get("api_error_status")
        return status if isinstance(status, int) else None

    @property
    def errors(self) -> list[str]:
        errors = (self.result or {}).get("errors")
        return [str(e) for e in errors] if isinstance(errors, list) else []

    @property
    def text(self) -> str:
        """The answer, or for a failed run the reason the CLI gave."""
        if self.result is None:
            return ""
        text = self.result.get("result")
        if isinstance(text, str) and text:
            return text
        if self.is_error and self.errors:
            return "; ".join(self.errors)
        return self.subtype if self.is_error else ""

    @property
    def denials(self) -> list[dict[str, Any]]:
        """The tool calls the CLI refused: `{tool_name, tool_use_id, tool_input}`."""
        denials = (self.result or {}).get("permission_denials")
        return [d for d in denials if isinstance(d, dict)] if isinstance(denials, list) else []

    @property
    def cli_cost_usd(self) -> float:
        return float((self.result or {}).get("total_cost_usd") or 0.0)

    def model_usage(self) -> dict[str, ModelUsage]:
        """Per model: its tokens by kind and the CLI's cost for them."""
        raw = (self.result or {}).get("modelUsage")
        found: dict[str, ModelUsage] = {}
        for name, entry in (raw if isinstance(raw, dict) else {}).items():
            if not isinstance(entry, dict):
                continue
            written = int(entry.get("cacheCreationInputTokens") or 0)
            bare = BRACKETED.sub("", name)
            one_hour = sum(n for (model, _), n in self._one_hour.items() if model == bare)
            tokens = Tokens(
                input=int(entry.get("inputTokens") or 0),
                output=int(entry.get("outputTokens") or 0),
                cache_read=int(entry.get("cacheReadInputTokens") or 0),
                cache_write=written,
                cache_write_1h=min(one_hour, written),
                web_searches=int(entry.get("webSearchRequests") or 0),
            )
            found[name] = ModelUsage(tokens, float(entry.get("costUSD") or 0.0))
        return found


def _retry(message: dict[str, Any]) -> Retry:
    status = message.get("error_status")
    return Retry(
        attempt=int(message.get("attempt") or 0),
        max_retries=int(message.get("max_retries") or 0),
        delay_seconds=float(message.get("retry_delay_ms") or 0) / 1000,
        status=status if isinstance(status, int) else None,
        error=str(message.get("error") or "unknown"),
    )


def _refusals(message: dict[str, Any]) -> list[dict[str, Any]]:
    """Tool results that are errors (a refused permission, a failed command)."""
    body = message.get("message")
    content = body.get("content") if isinstance(body, dict) else None
    events: list[dict[str, Any]] = []
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") == "tool_result" and block.get("is_error"):
            text = block.get("content")
            text = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False)
            events.append({"role": "tool", "part": "tool_error", "text": excerpt(text)})
    return events
