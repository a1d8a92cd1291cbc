"""From a finished Claude Code CLI run to the step's outcome: usage and cost, errors by kind.

Errors, each an `ApplicationError` whose type the runtime and Temporal's retry policy act on:
- no credentials, or the API refused them (401/403): ClaudeNotLoggedIn or
  AuthenticationFailed, not retried;
- 429 once the CLI's own retries are spent: RateLimited, retried after the Retry-After the
  CLI saw (the runtime makes every worker wait it out);
- 529: ProviderOverloaded; connection failures and 5xx: ProviderUnavailable; both retried;
- another 4xx (a model that does not exist...): BadRequest, not retried;
- `error_max_turns`: MaxTurnsReached; `error_max_budget_usd`: StepBudgetExceeded; tool calls
  the CLI refused (`permission_denials`) unless the spec sets `accept_denials`:
  PermissionDenied; bypassPermissions refused to root: ConfigurationError. None retried:
  another attempt would stop at the same place.

Anything else that failed (a crash, `error_during_execution`) is the step's `error`: the
activity raises the retryable `AgentFailed`. Every error carries the step's usage in its
details, since the tokens were spent all the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio.exceptions import ApplicationError

from agents.backends.claude_stream import ClaudeStream, excerpt
from agents.prices import PriceTable
from core.contracts import Usage
from core.specs import ClaudeCodeAgent

# What the CLI says when it has no usable credentials: "Not logged in · Please run /login",
# "Invalid API key · Fix external API key", "Failed to authenticate. API Error: 401 ...".
LOGIN_PROBLEM = re.compile(
    r"not logged in|please run /login|invalid api key|failed to authenticate|"
    r"authentication_failed|oauth token has expired|could not resolve authentication",
    re.IGNORECASE,
)
NO_SESSION = re.compile(r"No conversation found with session ID", re.IGNORECASE)
ROOT_REFUSED = "cannot be used with root/sudo privileges"
CREDENTIALS_HINT = (
    "give the worker ANTHROPIC_API_KEY (or ACC_ANTHROPIC_API_KEY), or run `claude` once as "
    "the worker's user and /login"
)


@dataclass
class Priced:
    """The step's usage: tokens from every model, cost from acc's price table."""

    usage: Usage
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    unpriced: list[str] = field(default_factory=list)

    def event(self, stream: ClaudeStream) -> dict[str, Any]:
        return {
            **self.usage.model_dump(),
            "cli_cost_usd": stream.cli_cost_usd,
            "models": self.models,
            "unpriced": self.unpriced,
        }


def price(stream: ClaudeStream, table: PriceTable) -> Priced:
    """Tokens and cost per model from `modelUsage`. A model acc has no price for is costed
    at the CLI's own figure and listed in `unpriced`, so the step is flagged, never free."""
    total, models, unpriced = Usage(), {}, []
    for name, used in stream.model_usage().items():
        cost = table.cost(name, used.tokens)
        if cost is None:
            unpriced.append(name)
            cost = used.cli_cost_usd
        tokens = used.tokens
        total += Usage(input_tokens=tokens.all_input, output_tokens=tokens.output, cost_usd=cost)
        models[name] = {
            "input_tokens": tokens.input,
            "output_tokens": tokens.output,
            "cache_read_tokens": tokens.cache_read,
            "cache_write_tokens": tokens.cache_write,
            "cache_write_1h_tokens": tokens.cache_write_1h,
            "cost_usd": cost,
            "cli_cost_usd": used.cli_cost_usd,
        }
    return Priced(total, models, unpriced)


def unknown_session(stream: ClaudeStream, stderr: str) -> bool:
    """The CLI was asked to resume a session it does not have."""
    texts = [*stream.errors, stderr] if stream.result is not None else [stderr]
    return any(NO_SESSION.search(text) for text in texts)


def login_problem(stream: ClaudeStream, stderr: str) -> bool:
    if stream.auth_failed or stream.api_status in (401, 403):
        return True
    if stream.result is not None:
        return stream.is_error and bool(LOGIN_PROBLEM.search(stream.text))
    return bool(LOGIN_PROBLEM.search(" ".join([*stream.noise, stderr])))


@dataclass(frozen=True)
class Failure:
    """A failure with a type of its own: raised as an `ApplicationError`."""

    kind: str
    message: str
    retryable: bool = False
    delay: float | None = None  # seconds before Temporal's next attempt (a Retry-After)


def judge(
    stream: ClaudeStream,
    agent: ClaudeCodeAgent,
    *,
    code: int,
    stderr: str,
    usage: Usage,
    api_url: str,
) -> str | None:
    """The step's error for a failure without a type of its own (None: it succeeded);
    raises the typed `ApplicationError` for the others."""
    found = classify(stream, agent, stderr=stderr, api_url=api_url)
    if found is not None:
        raise ApplicationError(
            found.message,
            {"usage": usage.model_dump(), "session_id": stream.session_id},
            type=found.kind,
            non_retryable=not found.retryable,
            next_retry_delay=timedelta(seconds=found.delay) if found.delay else None,
        )
    if stream.result is None:
        last = _last_line(stderr, stream)
        return f"claude exited with code {code} without a result" + (f": {last}" if last else "")
    if stream.is_error:
        return f"claude failed ({stream.subtype or 'error'}): {stream.text}"
    return None


def classify(
    stream: ClaudeStream, agent: ClaudeCodeAgent, *, stderr: str, api_url: str
) -> Failure | None:
    if login_problem(stream, stderr):
        reason = stream.text or _last_line(stderr, stream) or "authentication failed"
        if stream.api_status in (401, 403):
            message = f"the Anthropic API refused Claude Code's credentials ({reason})"
            return Failure("AuthenticationFailed", f"{message}: {CREDENTIALS_HINT}")
        message = f"Claude Code is not logged in ({reason})"
        return Failure("ClaudeNotLoggedIn", f"{message}: {CREDENTIALS_HINT}")
    if stream.result is None:
        if ROOT_REFUSED not in stderr:
            return None
        return Failure(
            "ConfigurationError",
            f"Claude Code refused permission_mode bypassPermissions "
            f"({_last_line(stderr, stream)}): run the worker as a non-root user, or in a "
            "sandbox with IS_SANDBOX=1 in its environment",
        )
    if stream.is_error:
        return _api_failure(stream, api_url) or _limit_reached(stream, agent)
    if stream.denials and not agent.accept_denials:
        return Failure(
            "PermissionDenied",
            f"Claude Code was refused {denied(stream)}: allow the tools with allowed_tools "
            "(e.g. Write, Edit, Bash(npm test:*)) or permission_mode acceptEdits, or set "
            "accept_denials to let the step succeed anyway",
        )
    return None


def _api_failure(stream: ClaudeStream, api_url: str) -> Failure | None:
    """An error result caused by the API: `api_error_status`, or "API Error: ..." without a
    status when the API could not be reached."""
    status = stream.api_status
    if status is None and not stream.text.startswith("API Error"):
        return None
    count = len(stream.retries)
    tried = f" after {count} retr{'y' if count == 1 else 'ies'}"
    last = stream.retries[-1] if stream.retries else None
    # The wait the CLI took after the API's last 429 is its Retry-After (else a backoff).
    delay = last.delay_seconds if last is not None and last.status == 429 else None
    reason = excerpt(stream.text, 200)
    if status == 429:
        message = f"the Anthropic API rate-limited Claude Code{tried} ({reason})"
        return Failure("RateLimited", message, retryable=True, delay=delay)
    if status == 529:
        message = f"the Anthropic API is overloaded{tried} ({reason})"
        return Failure("ProviderOverloaded", message, retryable=True)
    if status is None or status >= 500 or status in (408, 409):
        message = (
            f"Claude Code got no answer from the Anthropic API at {api_url}{tried} ({reason}): "
            "check ANTHROPIC_BASE_URL / ACC_ANTHROPIC_BASE_URL and the network"
        )
        return Failure("ProviderUnavailable", message, retryable=True)
    message = f"the Anthropic API refused the request ({reason}): check the step's model"
    return Failure("BadRequest", message)


def _limit_reached(stream: ClaudeStream, agent: ClaudeCodeAgent) -> Failure | None:
    if stream.subtype == "error_max_turns":
        return Failure(
            "MaxTurnsReached",
            f"Claude Code used all {agent.max_turns} turns allowed (max_turns) before "
            "finishing: raise max_turns or split the task",
        )
    if stream.subtype == "error_max_budget_usd":
        return Failure(
            "StepBudgetExceeded",
            f"Claude Code stopped at the step's budget: ${stream.cli_cost_usd:.4f} spent of "
            f"max_budget_usd ${agent.max_budget_usd or 0:g}; raise max_budget_usd",
        )
    return None


def denied(stream: ClaudeStream) -> str:
    """`2 tool call(s): Write notes.md; Bash ls > x`."""
    calls = []
    for denial in stream.denials:
        args = denial.get("tool_input")
        args = args if isinstance(args, dict) else {}
        target = args.get("file_path") or args.get("command") or args.get("path") or ""
        calls.append(f"{denial.get('tool_name')} {excerpt(str(target), 80)}".strip())
    return f"{len(calls)} tool call(s): " + "; ".join(calls)


def _last_line(stderr: str, stream: ClaudeStream) -> str:
    return (stderr.strip().splitlines() or list(stream.noise) or [""])[-1]
