"""The claude_code backend: the Claude Code CLI, headless, in a git worktree of the target repo.

A step goes like this:

1. Checks that retrying cannot fix fail at once and non-retryable: the CLI is not installed
   (`ClaudeCliMissing`), `repo` is not a git repository with a commit (`NotAGitRepository`),
   `permission_mode: bypassPermissions` on a worker that does not allow it
   (`ConfigurationError`, see ACC_CLAUDE_ALLOW_BYPASS_PERMISSIONS).
2. Each (run, role) gets its own worktree, `git -C <repo> worktree add --detach
   <data_dir>/worktrees/<run_id>/<role>`, reused on retries and later steps. The CLI keys its
   saved sessions by working directory, so a stable worktree is also what makes resuming work.
   `other_worktrees` adds other roles' worktrees (`--add-dir`): a manager reviewing a worker.
3. The session: a retry of the step resumes the session its lost attempt recorded in the
   activity's heartbeat details (`ctx.resumed`); else, with `resume`, the role's session saved
   by an earlier step (`<data_dir>/runs/<run_id>/sessions/<role>.json`); else a new session
   whose id acc chooses (`--session-id`) and records before the CLI starts, so even a worker
   killed mid-step leaves the next attempt a session to resume. A session the CLI does not
   know any more is replaced by a fresh one, once, and the step says so.
4. `claude -p --output-format stream-json --verbose [flags] -- <prompt>` runs in its own process
   group with stdin closed and the environment of `core.settings.claude_environment`,
   dying with its worker (and reaped with its tools by the next one, `agents.process`). Each
   line is folded by `ClaudeStream` as it arrives into `agent.message` events: the session,
   assistant text, tool calls, refused tools, and the CLI's API retries (also kept in the
   heartbeat details), so a follower sees a slow step work and a dead endpoint retried.
5. The result is judged by `claude_outcome`: tokens and cost from `modelUsage` priced with
   acc's table (published as `agent.usage`), errors by kind. The step's time limit kills the
   process group and raises `AgentTimedOut`, saying when the API was unreachable meanwhile;
   cancelling the activity kills the group and re-raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import uuid
from asyncio import FIRST_COMPLETED
from dataclasses import dataclass
from pathlib import Path

from temporalio.exceptions import ApplicationError

from agents import sandbox
from agents.backends import claude_outcome
from agents.backends.claude_stream import ClaudeStream
from agents.base import AgentContext, AgentOutcome
from agents.prices import PriceTable
from agents.process import (
    KILL_GRACE_SECONDS,
    OWNER_ENV,
    STDERR_TAIL,
    dying_with_worker,
    kill_group,
    owner_tag,
    read_capped,
    stop,
)
from agents.sandbox import use_sandbox
from agents.workspaces import git
from core.settings import Settings, claude_environment
from core.specs import ClaudeCodeAgent

HEARTBEAT_SECONDS = 1.0
LINE_LIMIT = 8 * 1024 * 1024  # one stream-json line (a big tool result); longer ones are dropped
OFFICIAL_API = "https://api.anthropic.com"
INSTALL_HINT = (
    "install it (`npm install -g @anthropic-ai/claude-code`, or "
    "`curl -fsSL https://claude.ai/install.sh | bash`) and log in once by running `claude`, "
    "or set ACC_CLAUDE_CLI to its full path"
)
RETRY_NOTE = (
    "Your previous attempt at this step stopped before it finished. Continue from where "
    "you stopped; the task was:\n\n"
)


@dataclass(frozen=True)
class Session:
    """How the CLI starts: resuming `resume`, or a new session with id `new`."""

    resume: str | None = None
    new: str | None = None
    retry: bool = False  # resuming this step's own lost attempt

    def arguments(self) -> list[str]:
        # One token each, so a value can never pass as a flag.
        return [f"--resume={self.resume}"] if self.resume else [f"--session-id={self.new}"]


class ClaudeCodeBackend:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._prices = PriceTable.load(settings.LLM_PRICES_FILE, settings.PRICE_RULES)

    async def run(self, ctx: AgentContext) -> AgentOutcome:
        agent, task = ctx.task.agent, ctx.task
        assert isinstance(agent, ClaudeCodeAgent)
        cli = shutil.which(self._settings.CLAUDE_CLI)
        if cli is None:
            raise _cli_missing(self._settings.CLAUDE_CLI)
        if agent.permission_mode == "bypassPermissions":
            self._check_bypass_allowed()
        worktrees = self._settings.data_dir / "worktrees" / task.run_id
        worktree = await _worktree(agent.repo, worktrees / agent.role)
        others = [worktrees / role for role in agent.other_worktrees]
        sessions = self._settings.data_dir / "runs" / task.run_id / "sessions"
        session_file = sessions / f"{agent.role}.json"
        session = _session(ctx, agent, session_file)
        env = claude_environment(self._settings)
        jail = await _sandbox(cli, worktree, others, env) if use_sandbox(self._settings) else None
        launch = _Launch(cli, worktree, others, env, jail)
        notices: list[str] = []
        stream, code, stderr = await self._attempt(ctx, launch, session)
        if session.resume and claude_outcome.unknown_session(stream, stderr):
            notice = f"session {session.resume} was not found; started a fresh session"
            notices.append(notice)
            await ctx.emit("agent.message", {"role": "system", "part": "notice", "text": notice})
            session = Session(new=str(uuid.uuid4()))
            stream, code, stderr = await self._attempt(ctx, launch, session)
        if stream.result is not None and stream.session_id:
            ctx.record(session_id=stream.session_id)
            if not claude_outcome.login_problem(stream, stderr):  # nothing worth resuming
                _save_session(session_file, stream.session_id, task.step_name)
        priced = claude_outcome.price(stream, self._prices)
        await ctx.emit("agent.usage", {"model": stream.model, **priced.event(stream)})
        if priced.unpriced:
            notices.append(
                f"no acc price for {', '.join(priced.unpriced)}: costed at the CLI's own "
                "figure; add it to ACC_LLM_PRICES_FILE or ACC_PRICE_RULES"
            )
        if stream.denials and agent.accept_denials:
            notices.append(f"accepted: Claude Code was refused {claude_outcome.denied(stream)}")
        error = claude_outcome.judge(
            stream,
            agent,
            code=code,
            stderr=stderr,
            usage=priced.usage,
            api_url=env.get("ANTHROPIC_BASE_URL") or OFFICIAL_API,
        )
        return AgentOutcome(
            text=stream.text,
            exit_code=code,
            stderr="".join(f"acc: {notice}\n" for notice in notices) + stderr,
            usage=priced.usage,
            session_id=stream.session_id,
            error=error,
        )

    def _check_bypass_allowed(self) -> None:
        if not self._settings.CLAUDE_ALLOW_BYPASS_PERMISSIONS:
            raise ApplicationError(
                "permission_mode bypassPermissions lets Claude Code run every tool without "
                "asking, and this worker does not allow it: set "
                "ACC_CLAUDE_ALLOW_BYPASS_PERMISSIONS=true only on workers whose agents run in "
                "a sandbox, or use acceptEdits with allowed_tools",
                type="ConfigurationError",
                non_retryable=True,
            )

    async def _attempt(
        self, ctx: AgentContext, launch: _Launch, session: Session
    ) -> tuple[ClaudeStream, int, str]:
        agent = ctx.task.agent
        assert isinstance(agent, ClaudeCodeAgent)
        ctx.record(session_id=session.resume or session.new)
        prompt = agent.prompt + (f"\n\n{ctx.input_text}" if ctx.input_text.strip() else "")
        if session.retry:
            prompt = RETRY_NOTE + prompt
        dirs = [path for path in launch.others if path.is_dir()]  # a role not started yet
        argv = [launch.cli, *cli_arguments(agent, session, dirs), "--", prompt]
        argv = sandbox.wrap(argv, launch.jail) if launch.jail else dying_with_worker(argv)
        stream = ClaudeStream()
        code, stderr = await _execute(argv, launch.worktree, launch.env, stream, ctx)
        return stream, code, stderr


@dataclass(frozen=True)
class _Launch:
    """How the CLI starts: where, with what, and in which sandbox (None: none)."""

    cli: str
    worktree: Path
    others: list[Path]
    env: dict[str, str]
    jail: sandbox.Layout | None


async def _sandbox(
    cli: str, worktree: Path, others: list[Path], env: dict[str, str]
) -> sandbox.Layout:
    """The CLI's sandbox: its worktree and the repository's git folder (commits go there)
    writable, at their own paths (the CLI keys sessions by folder, git records absolute
    paths); its configuration folder (sessions, login) writable; the CLI itself and other
    roles' worktrees read-only; the network, for its provider. `env` learns the
    configuration folder (the CLI's `.claude.json` included) and that it is sandboxed."""
    code, common = await git(
        "-C", str(worktree), "rev-parse", "--path-format=absolute", "--git-common-dir"
    )
    if code != 0:
        raise ApplicationError(
            f"git rev-parse in {worktree} failed: {common}", type="WorktreeFailed"
        )
    home = Path(env.get("HOME") or Path.home())
    config = Path(env.get("CLAUDE_CONFIG_DIR") or home / ".claude")
    config.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - one cheap syscall per step
    env["CLAUDE_CONFIG_DIR"] = str(config)
    env["IS_SANDBOX"] = "1"  # the CLI then takes bypassPermissions from a root worker
    readable = [path for path in others if path.is_dir()]
    installed = Path(os.path.realpath(cli))  # noqa: ASYNC240 - resolves one link
    if not installed.is_relative_to("/usr"):
        # The package it belongs to (a native CLI under node_modules needs its siblings).
        packages = [p for p in installed.parents if p.name == "node_modules"]
        readable.append(packages[-1] if packages else installed.parent)
    return sandbox.Layout(
        worktree,
        mount_at=str(worktree),
        writable=[Path(common.strip()), config],
        readable=readable,
        network=True,
        as_nobody=False,
    )


def _session(ctx: AgentContext, agent: ClaudeCodeAgent, session_file: Path) -> Session:
    lost = ctx.resumed.get("session_id")
    if isinstance(lost, str) and lost:
        return Session(resume=lost, retry=True)
    saved = _load_session(session_file) if agent.resume else None
    return Session(resume=saved) if saved else Session(new=str(uuid.uuid4()))


def cli_arguments(agent: ClaudeCodeAgent, session: Session, add_dirs: list[Path]) -> list[str]:
    """Flags for a headless run; the caller appends `--` and the prompt (`--allowedTools` takes
    several values, and a prompt starting with `-` would otherwise be read as an option)."""
    args = ["-p", "--output-format", "stream-json", "--verbose"]
    args += ["--permission-mode", agent.permission_mode]
    if agent.model:
        args += ["--model", agent.model]
    if agent.allowed_tools:
        args += ["--allowedTools", ",".join(agent.allowed_tools)]
    if agent.disallowed_tools:
        args += ["--disallowedTools", ",".join(agent.disallowed_tools)]
    if agent.max_turns is not None:
        args += ["--max-turns", str(agent.max_turns)]
    if agent.max_budget_usd is not None:
        args += ["--max-budget-usd", f"{agent.max_budget_usd:g}"]
    if agent.append_system_prompt:
        args.append(f"--append-system-prompt={agent.append_system_prompt}")
    args += [f"--add-dir={path}" for path in add_dirs]
    return args + session.arguments()


async def _execute(
    argv: list[str], cwd: Path, env: dict[str, str], stream: ClaudeStream, ctx: AgentContext
) -> tuple[int, str]:
    """Run the CLI, feeding its stdout to `stream`; returns the exit code and stderr's tail."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
            env={**env, OWNER_ENV: owner_tag()},  # its tools too: reaped if the worker dies
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
    groups: set[int] = set()  # the process groups of the tools it ran (see _tool_groups)
    try:
        async with deadline:
            while not exited.done():
                waiting = {exited} if reader.done() else {exited, reader}
                await asyncio.wait(waiting, timeout=HEARTBEAT_SECONDS, return_when=FIRST_COMPLETED)
                ctx.heartbeat()  # also through silences: a long tool call prints nothing
                groups |= _tool_groups(proc.pid)
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
        groups |= _tool_groups(proc.pid)  # before the CLI goes and they lose their parent
        # Bounded: a process that left the group could hold the pipes open for ever.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop(proc), 3 * KILL_GRACE_SECONDS)
        if isinstance(exc, TimeoutError) and deadline.expired():
            raise _timed_out(ctx.task.timeout_seconds, stream, env) from None
        raise
    finally:
        for pending in (reader, exited, stderr):
            pending.cancel()
        for group in {proc.pid, *groups}:  # background processes its tools left behind
            kill_group(group)
    tail = stderr.result()[0] if stderr.done() and not stderr.cancelled() else b""
    return code, tail.decode(errors="replace")


def _tool_groups(root: int) -> set[int]:
    """The process groups of `root`'s descendants. The CLI runs each Bash tool call in a
    process group of its own, which killing the CLI's group would miss. Linux only (/proc);
    elsewhere the CLI's own group is all that is killed."""
    parents: dict[int, tuple[int, int]] = {}  # pid -> (parent pid, process group)
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    with open(f"/proc/{entry.name}/stat") as stat:
                        fields = stat.read().rsplit(")", 1)[1].split()
                    parents[int(entry.name)] = (int(fields[1]), int(fields[2]))
    ours = os.getpgid(0)
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, (ppid, _) in parents.items() if ppid in frontier}
        found |= {parents[pid][1] for pid in frontier}
    return found - {ours}


def _timed_out(seconds: float, stream: ClaudeStream, env: dict[str, str]) -> ApplicationError:
    message = f"claude timed out after {seconds:g}s"
    if stream.retries and stream.result is None:
        url = env.get("ANTHROPIC_BASE_URL") or OFFICIAL_API
        message += (
            f", retrying the Anthropic API at {url} ({len(stream.retries)} retries so far; "
            f"the last: {stream.retries[-1].describe()})"
        )
        if stream.retries[-1].status is None:
            message += ": check ANTHROPIC_BASE_URL / ACC_ANTHROPIC_BASE_URL and the network"
    return ApplicationError(message, type="AgentTimedOut")


async def _pump(stdout: asyncio.StreamReader, stream: ClaudeStream, ctx: AgentContext) -> None:
    while True:
        try:
            line = await stdout.readline()
        except ValueError:  # longer than LINE_LIMIT: skipped, its tail arrives as noise
            continue
        if not line:
            return
        retries = len(stream.retries)
        ctx.heartbeat()
        for event in stream.feed(line.decode(errors="replace")):
            await ctx.emit("agent.message", event)
        if len(stream.retries) > retries:
            ctx.record(api_retry=stream.retries[-1].describe())


async def _worktree(repo_path: str, path: Path) -> Path:
    """The worktree at `path`, added from `repo_path` unless it exists (a retry, a resume)."""
    repo = os.path.abspath(os.path.expanduser(repo_path))  # noqa: ASYNC240 - no I/O
    code, out = await git("-C", repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    if code != 0:
        raise ApplicationError(
            f"{repo} is not a git repository with at least one commit ({out or 'no HEAD'})",
            type="NotAGitRepository",
            non_retryable=True,
        )
    if (path / ".git").exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    await git("-C", repo, "worktree", "prune")  # forget worktrees whose folder was deleted
    code, out = await git("-C", repo, "worktree", "add", "--detach", str(path))
    if code != 0:
        raise ApplicationError(f"git worktree add {path} failed: {out}", type="WorktreeFailed")
    return path


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
