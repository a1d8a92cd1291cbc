"""Typed models that cross process boundaries: run specs, agent tasks and results, run state.

The API validates a `RunSpec`, the workflow receives a `RunInput`, each agent step is an
`AgentTask` answered by an `AgentResult`, and the workflow's live and final state is a
`RunState`. All of them travel through Temporal with the pydantic data converter.
"""

from __future__ import annotations

import shlex
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"

RunStatus = Literal["running", "completed", "failed", "cancelled", "terminated", "timed_out"]
StepStatus = Literal["pending", "running", "completed", "failed", "cancelled"]


class Strict(BaseModel):
    """Unknown fields are errors, so a typo in a spec is named instead of ignored."""

    model_config = ConfigDict(extra="forbid")


class ShellAgent(Strict):
    """Run one allowed executable in the run's working directory."""

    backend: Literal["shell"] = "shell"
    command: list[str] = Field(
        min_length=1, description="argv list, or a string split like a POSIX shell would"
    )
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment variables")

    @field_validator("command", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return shlex.split(value)
            except ValueError as exc:
                raise ValueError(f"cannot split command: {exc}") from exc
        return value


class LlmAgent(Strict):
    """One chat completion through the official OpenAI or Anthropic SDK."""

    backend: Literal["llm"] = "llm"
    provider: Literal["openai", "anthropic"] = "openai"
    model: str = Field(min_length=1)
    prompt: str = Field(min_length=1, description="User message; the step input is appended")
    system: str | None = None
    max_tokens: int = Field(1024, ge=1, le=200_000)
    temperature: float | None = Field(None, ge=0, le=2)
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint (Ollama, vLLM)")


class ClaudeCodeAgent(Strict):
    """The Claude Code CLI, headless, in its own git worktree of `repo`."""

    backend: Literal["claude_code"] = "claude_code"
    prompt: str = Field(min_length=1)
    repo: str = Field(min_length=1, description="Path of the git repository to work in")
    model: str | None = None
    allowed_tools: list[str] = Field(default_factory=list)
    max_turns: int | None = Field(None, ge=1, le=500)
    resume: bool = Field(False, description="Resume this run's previous session of this role")
    role: str = Field("worker", pattern=NAME_PATTERN)


class PythonAgent(Strict):
    """A callable registered under the `acc.agents` entry point group."""

    backend: Literal["python"] = "python"
    plugin: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)


class RemoteAgent(Strict):
    """An agent process connected over WebSocket, chosen by id or capability."""

    backend: Literal["remote"] = "remote"
    agent_id: str | None = None
    capability: str | None = None
    prompt: str = ""


AgentSpec = Annotated[
    ShellAgent | LlmAgent | ClaudeCodeAgent | PythonAgent | RemoteAgent,
    Field(discriminator="backend"),
]


class RetrySpec(Strict):
    max_attempts: int = Field(1, ge=1, le=20)
    initial_interval_seconds: float = Field(1.0, gt=0, le=3600)
    backoff: float = Field(2.0, ge=1, le=10)


class StepSpec(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    agent: AgentSpec
    timeout_seconds: float = Field(600, gt=0, le=86_400)
    retry: RetrySpec = Field(default_factory=RetrySpec)


class RunSpec(Strict):
    """What a user submits: a coordination pattern and its steps."""

    name: str = Field(pattern=NAME_PATTERN)
    pattern: Literal["pipeline"] = "pipeline"
    description: str = ""
    input: str = Field("", description="Given to the first step on stdin")
    steps: list[StepSpec] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _unique_step_names(self) -> RunSpec:
        seen: set[str] = set()
        for step in self.steps:
            if step.name in seen:
                raise ValueError(f"step name {step.name!r} is used twice")
            seen.add(step.name)
        return self


class RunInput(BaseModel):
    run_id: str
    tenant: str
    spec: RunSpec
    agents_queue: str = Field(description="Task queue of the agent activities")


class Output(BaseModel):
    """A step's output: inline when small, else a reference into the artifact store."""

    text: str = ""
    artifact_id: str | None = None
    size: int = 0
    truncated: bool = False


class AgentTask(BaseModel):
    run_id: str
    tenant: str
    step_index: int
    step_name: str
    agent: AgentSpec
    input: Output = Field(default_factory=Output)
    timeout_seconds: float = 600


class Usage(BaseModel):
    """Tokens and cost of one agent call; summed per step and per run for budgets."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
        )

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class AgentResult(BaseModel):
    output: Output
    exit_code: int = 0
    stderr: str = Field("", description="Tail of the agent's error stream")
    duration_ms: float = 0
    usage: Usage = Field(default_factory=Usage)
    session_id: str | None = Field(None, description="Backend session, for resuming it")


class StepState(BaseModel):
    name: str
    status: StepStatus = "pending"
    started_at: datetime | None = None
    ended_at: datetime | None = None
    result: AgentResult | None = None
    error: str | None = None


class RunState(BaseModel):
    """Live state (Temporal query) and final result of a run."""

    run_id: str
    name: str
    pattern: str
    tenant: str
    status: RunStatus = "running"
    current_step: int | None = None
    steps: list[StepState] = Field(default_factory=list)
    output: Output | None = None
    error: str | None = None


class RunEvent(BaseModel):
    """What the orchestration worker publishes when a run starts or ends."""

    run_id: str
    tenant: str
    type: Literal["run.started", "run.completed", "run.failed", "run.cancelled"]
    pattern: str
    name: str
    error: str | None = None
