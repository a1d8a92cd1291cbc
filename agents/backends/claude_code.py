"""The claude_code backend: the Claude Code CLI, headless, in a git worktree of the target repo.

A step goes like this:

1. Checks that retrying cannot fix fail at once and non-retryable: the CLI is not installed
   (`ClaudeCliMissing`), `repo` is not a git repository with a commit (`NotAGitRepository`).
2. Each (run, role) gets its own worktree, `git -C <repo> worktree add --detach
   <data_dir>/worktrees/<run_id>/<role>`, reused on retries and later steps. The CLI keys its
   saved sessions by working directory, so a stable worktree is also what makes resuming work.
3. With `resume`, the session id saved for this run and role
   (`<data_dir>/runs/<run_id>/sessions/<role>.json`) is passed as `--resume`: that is how a
   manager/worker pair keep their conversations across steps.
4. `claude -p --output-format stream-json --verbose [flags] -- <prompt>` runs in its own process
   group with stdin closed. Stdout is one JSON message per line (`system` init, `assistant` and
   `user` turns, a final `result`); `ClaudeStream` folds them as they arrive into short
   `agent.message` events, and the `result` gives the output, session id, tokens and cost.
5. An `is_error` result fails the step (`AgentOutcome.error`), except a login problem, which is
   the non-retryable `ClaudeNotLoggedIn`. The time limit kills the process group and raises
   `AgentTimedOut`; cancelling the activity kills the group and re-raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
from asyncio import FIRST_COMPLETED
from collections import deque
from pathlib import Path
from typing import Any

from temporalio.exceptions import ApplicationError

from agents.base import AgentContext, AgentOutcome
from agents.process import KILL_GRACE_SECONDS, STDERR_TAIL, kill_group, read_capped, stop
from core.contracts import Usage
from core.settings import Settings
from core.specs import ClaudeCodeAgent

EXCERPT_CHARS = 400
HEARTBEAT_SECONDS = 1.0
LINE_LIMIT = 8 * 1024 * 1024  # one stream-json line (a big tool result); longer ones are dropped
INSTALL_HINT = (
    "install it (`npm install -g @anthropic-ai/claude-code`, or "
    "`curl -fsSL https://claude.ai/install.sh | bash`) and log in once by running `claude`, "
    "or set ACC_CLAUDE_CLI to its full path"
)
# What the CLI says when it has no usable credentials: "Not logged in · Please run /login",
# "Invalid API key · Please run /login", "Failed to authenticate. API Error: 401 ...".
LOGIN_PROBLEM = re.compile(
    r"not logged in|please run /login|invalid api key|failed to authenticate|"
    r"authentication_failed|oauth token has expired|could not resolve authentication",
    re.IGNORECASE,
)


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ClaudeStream:
    """Folds `--output-format stream-json` lines into events and the final result; no I/O."""

    def __init__(self) -> None:
        self.session_id: str | None = None
        self.result: dict[str, Any] | None = None
        self.auth_failed = False  # an assistant turn flagged `"error": "authentication_failed"`
        self.noise: deque[str] = deque(maxlen=5)  # last lines that were not JSON messages

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
        kind = message.get("type")
        if kind == "result":
            self.result = message
        elif kind == "assistant":
            if message.get("error") == "authentication_failed":
                self.auth_failed = True
            return self._assistant_events(message)
        return []

    def _assistant_events(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        body = message.get("message")
        content = body.get("content") if isinstance(body, dict) else None
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        events: list[dict[str, Any]] = []
        for block in content if isinstance(content, list) else []:
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "text" and str(block.get("text", "")).strip():
                events.append({"role": "assistant", "kind": kind, "text": excerpt(block["text"])})
            elif kind == "tool_use":
                args = excerpt(json.dumps(block.get("input"), ensure_ascii=False))
                events.append(
                    {"role": "assistant", "kind": kind, "tool": block.get("name"), "text": args}
                )
        return events

    @property
    def is_error(self) -> bool:
        return self.result is None or bool(self.result.get("is_error"))

    @property
    def text(self) -> str:
        """The answer, or for a failed run the reason the CLI gave."""
        if self.result is None:
            return ""
        text = self.result.get("result")
        if isinstance(text, str) and text:
            return text
        errors = self.result.get("errors")
        if self.is_error and isinstance(errors, list) and errors:
            return "; ".join(str(e) for e in errors)
        return "" if not self.is_error else str(self.result.get("subtype", "error"))

    @property
    def usage(self) -> Usage:
        """Input tokens include cache writes and reads: all of it is context the model read."""
        result = self.result or {}
        raw = result.get("usage") or {}
        inputs = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        return Usage(
            input_tokens=sum(int(raw.get(key) or 0) for key in inputs),
            output_tokens=int(raw.get("output_tokens") or 0),
            cost_usd=float(result.get("total_cost_usd") or 0.0),
        )

    def login_problem(self, stderr: str = "") -> bool:
        if self.auth_failed:
            return True
        if self.result is not None:
            return self.is_error and bool(LOGIN_PROBLEM.search(self.text))
        return bool(LOGIN_PROBLEM.search(" ".join([*self.noise, stderr])))


class ClaudeCodeBackend:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def run(self, ctx: AgentContext) -> AgentOutcome:
        agent, task = ctx.task.agent, ctx.task
        assert isinstance(agent, ClaudeCodeAgent)
        cli = shutil.which(self._settings.CLAUDE_CLI)
        if cli is None:
            raise _cli_missing(self._settings.CLAUDE_CLI)
        data = self._settings.data_dir
        worktree = await _worktree(agent.repo, data / "worktrees" / task.run_id / agent.role)
        session_file = data / "runs" / task.run_id / "sessions" / f"{agent.role}.json"
        resume = _load_session(session_file) if agent.resume else None
        prompt = agent.prompt + (f"\n\n{ctx.input_text}" if ctx.input_text.strip() else "")
        stream = ClaudeStream()
        argv = [cli, *cli_arguments(agent, resume), "--", prompt]
        code, stderr = await _execute(argv, worktree, stream, ctx)
        if stream.login_problem(stderr):
            reason = stream.text or (stderr.strip().splitlines() or ["authentication failed"])[-1]
            raise ApplicationError(
                f"Claude Code is not logged in ({reason}): run `claude` once as the worker's "
                "user and /login, or give the worker ANTHROPIC_API_KEY",
                type="ClaudeNotLoggedIn",
                non_retryable=True,
            )
        if stream.result is not None and stream.session_id:
            _save_session(session_file, stream.session_id, task.step_name)
        error = None
        if stream.result is None:
            last = (stderr.strip().splitlines() or list(stream.noise) or [""])[-1]
            error = f"claude exited with code {code} without a result"
            error += f": {last}" if last else ""
        elif stream.is_error:
            error = f"claude failed ({stream.result.get('subtype', 'error')}): {stream.text}"
        return AgentOutcome(
            text=stream.text,
            exit_code=code,
            stderr=stderr,
            usage=stream.usage,
            session_id=stream.session_id,
            error=error,
        )


async def _execute(
    argv: list[str], cwd: Path, stream: ClaudeStream, ctx: AgentContext
) -> tuple[int, str]:
    """Run the CLI, feeding its stdout to `stream`; returns the exit code and stderr's tail."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
            start_new_session=True,  # its own process group: killing it kills its tools too
            limit=LINE_LIMIT,
        )
    except (FileNotFoundError, PermissionError):
        raise _cli_missing(argv[0]) from None
    assert proc.stdout and proc.stderr
    stderr = asyncio.ensure_future(read_capped(proc.stderr, STDERR_TAIL, keep_tail=True))
    reader = asyncio.ensure_future(_pump(proc.stdout, stream, ctx))
    exited = asyncio.ensure_future(proc.wait())  # done once it exited and every pipe closed
    deadline = asyncio.timeout(ctx.task.timeout_seconds)
    try:
        async with deadline:
            while not exited.done():
                waiting = {exited} if reader.done() else {exited, reader}
                await asyncio.wait(waiting, timeout=HEARTBEAT_SECONDS, return_when=FIRST_COMPLETED)
                ctx.heartbeat()  # also through silences: a long tool call prints nothing
                if reader.done():
                    await reader  # re-raises if emitting an event failed
                if proc.returncode is not None and not exited.done():
                    # The CLI has exited but something it started still holds a pipe open.
                    await asyncio.wait({exited}, timeout=KILL_GRACE_SECONDS)
                    kill_group(proc.pid)
            await reader
            code = exited.result()
            await asyncio.wait({stderr}, timeout=KILL_GRACE_SECONDS)
    except BaseException as exc:
        # Bounded: a process that left the group could hold the pipes open for ever.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop(proc), 3 * KILL_GRACE_SECONDS)
        if isinstance(exc, TimeoutError) and deadline.expired():
            raise ApplicationError(
                f"claude timed out after {ctx.task.timeout_seconds:g}s", type="AgentTimedOut"
            ) from None
        raise
    finally:
        for pending in (reader, exited, stderr):
            pending.cancel()
        kill_group(proc.pid)  # background processes its tools left behind
    tail = stderr.result()[0] if stderr.done() and not stderr.cancelled() else b""
    return code, tail.decode(errors="replace")


async def _worktree(repo_path: str, path: Path) -> Path:
    """The worktree at `path`, added from `repo_path` unless it exists (a retry, a resume)."""
    repo = os.path.abspath(os.path.expanduser(repo_path))  # noqa: ASYNC240 - no I/O
    code, out = await _git("-C", repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    if code != 0:
        raise ApplicationError(
            f"{repo} is not a git repository with at least one commit ({out or 'no HEAD'})",
            type="NotAGitRepository",
            non_retryable=True,
        )
    if (path / ".git").exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    await _git("-C", repo, "worktree", "prune")  # forget worktrees whose folder was deleted
    code, out = await _git("-C", repo, "worktree", "add", "--detach", str(path))
    if code != 0:
        raise ApplicationError(f"git worktree add {path} failed: {out}", type="WorktreeFailed")
    return path


def cli_arguments(agent: ClaudeCodeAgent, resume: str | None) -> list[str]:
    """Flags for a headless run; the caller appends `--` and the prompt (`--allowedTools` takes
    several values, and a prompt starting with `-` would otherwise be read as an option)."""
    args = ["-p", "--output-format", "stream-json", "--verbose"]
    if agent.model:
        args += ["--model", agent.model]
    if agent.allowed_tools:
        args += ["--allowedTools", ",".join(agent.allowed_tools)]
    if agent.max_turns is not None:
        args += ["--max-turns", str(agent.max_turns)]
    if resume:
        args.append(f"--resume={resume}")  # one token, so the value can never pass as a flag
    return args


async def _pump(stdout: asyncio.StreamReader, stream: ClaudeStream, ctx: AgentContext) -> None:
    while True:
        try:
            line = await stdout.readline()
        except ValueError:  # longer than LINE_LIMIT: skipped, its tail arrives as noise
            continue
        if not line:
            return
        ctx.heartbeat()
        for event in stream.feed(line.decode(errors="replace")):
            await ctx.emit("agent.message", event)


async def _git(*args: str) -> tuple[int, str]:
    try:
        proc = await asyncio.create_subprocess_exec(
            "git",
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
    except FileNotFoundError:
        return 127, "git is not installed"
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace").strip()


def _load_session(path: Path) -> str | None:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        session = json.loads(path.read_text()).get("session_id")
        return session if isinstance(session, str) and session else None
    return None


def _save_session(path: Path, session_id: str, step: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"session_id": session_id, "step": step}))


def _cli_missing(cli: str) -> ApplicationError:
    return ApplicationError(
        f"Claude Code CLI {cli!r} (setting ACC_CLAUDE_CLI) was not found: {INSTALL_HINT}",
        type="ClaudeCliMissing",
        non_retryable=True,
    )
