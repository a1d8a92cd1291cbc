"""What every agent backend implements, and what it is given to do its work.

A backend turns an `AgentContext` (the task, its input text, a working directory, a
heartbeat and an event emitter) into an `AgentOutcome`. Failures are raised as
`ApplicationError` with a `type`; a failure retrying cannot fix (bad configuration,
missing CLI, forbidden command) is `non_retryable=True`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from core.contracts import AgentTask, Usage

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]


@dataclass
class AgentContext:
    """What a backend gets to run one attempt of a step.

    Progress: `record(key=value, ...)` keeps how far the step got (a session id, the last
    item done) in the activity's heartbeat details, the Temporal way; every `heartbeat()`
    carries it. An attempt that follows a lost one (a killed worker, a timed-out heartbeat)
    finds it in `resumed` and continues from there instead of starting over.
    """

    task: AgentTask
    input_text: str
    workdir: Path
    heartbeat: Callable[[], None]
    emit: Emit  # streams agent events to the bus as they happen, e.g. emit("agent.message", {...})
    task_token: bytes = b""  # the activity's, for a backend that completes it later (remote)
    resumed: dict[str, Any] = field(default_factory=dict)  # the previous attempt's progress
    record: Callable[..., None] = lambda **_: None


@dataclass
class AgentOutcome:
    text: str
    exit_code: int = 0
    stderr: str = ""
    truncated: bool = False
    usage: Usage = field(default_factory=Usage)
    session_id: str | None = None
    error: str | None = None  # set when the agent ran but failed: the step fails with this
    # The step was handed to a remote agent that reports for it later, by task token: the
    # activity completes asynchronously (`activity.raise_complete_async()`).
    handed_off: bool = False


class AgentBackend(Protocol):
    async def run(self, ctx: AgentContext) -> AgentOutcome: ...
