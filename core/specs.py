"""Run specs: what a user submits, validated before anything starts.

A spec names its coordination `pattern`; each pattern has its own fields (steps, agents,
reducer, rounds, compensations, manager/workers/reviewer, event handlers). The union
`RunSpec` is discriminated by `pattern`, so an error names the pattern's field that is
wrong. `acc schema` and `GET /v1/schema/run-spec` publish the JSON Schema.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)
from pydantic.json_schema import WithJsonSchema

from core.jsontypes import Integer, Integral

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"
# Upper bounds of what a spec may ask for (docs/PATTERNS.md, "Limits"): every duration,
# count and size is bounded, so nothing accepted can overflow or wait for ever.
MAX_WAIT_SECONDS = 30 * 24 * 3600  # approvals, wall-clock budgets: 30 days
MAX_STEP_SECONDS = 24 * 3600  # one step's time limit
MAX_TEXT = 1_000_000  # characters of a run's input, a prompt or a template
MAX_TOKENS_BUDGET = 1_000_000_000
MAX_COST_BUDGET_USD = 1_000_000
MAX_FAN_OUT_JOBS = 10_000  # agents x tasks of one scatter-gather
LOST_WORKER_RETRIES = 10  # a step whose worker keeps dying fails after this many losses
# {{input}}, {{run.input}}, {{steps.NAME.output}} in a step's `input` template.
TEMPLATE_KEY = re.compile(r"\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")
# Environment variables that change what runs: the loader's, the search paths, startup files.
UNSAFE_ENV = re.compile(
    r"^(LD_\w*|DYLD_\w*|PATH|PYTHON(PATH|HOME|STARTUP)|BASH_ENV|ENV|IFS|NODE_OPTIONS|"
    r"PERL5LIB|RUBYLIB|GIT_\w*|ACC_\w*)$"
)


class Strict(BaseModel):
    """Unknown fields are errors, so a typo in a spec is named instead of ignored; and values
    are taken as the JSON types the schema gives, never coerced (`"yes"` is not a boolean,
    `false` not a number, `"3"` not an integer)."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _requires(tag: str) -> Callable[[dict[str, Any]], None]:
    """A schema hook marking the union's tag required: it has a default so that code can
    build the model without naming it, but a document must name it to be told apart."""

    def hook(schema: dict[str, Any]) -> None:
        required = schema.setdefault("required", [])
        if tag not in required:
            required.insert(0, tag)

    return hook


class Tagged(Strict):
    """An agent spec: `backend` picks the kind."""

    model_config = ConfigDict(json_schema_extra=_requires("backend"))


class ShellAgent(Tagged):
    """Run one allowed executable in the run's working directory."""

    backend: Literal["shell"] = "shell"
    command: Annotated[
        list[str],
        WithJsonSchema(  # what a document may say; the validator below splits a string
            {
                "anyOf": [
                    {"type": "string", "minLength": 1},
                    {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 1000},
                ]
            }
        ),
    ] = Field(
        min_length=1,
        max_length=1000,
        description="argv list, or a string split like a POSIX shell would",
    )
    env: dict[str, str] = Field(
        default_factory=dict, max_length=100, description="Extra environment variables"
    )
    network: bool = Field(
        False, description="Reach the network from the sandbox (off: no network at all)"
    )

    @field_validator("env")
    @classmethod
    def _safe_env(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if UNSAFE_ENV.match(name):
                raise ValueError(
                    f"{name} cannot be set by a step: it decides which programs and libraries "
                    "run (the PATH is ACC_SHELL_PATH)"
                )
        return value

    @field_validator("command", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return shlex.split(value)
            except ValueError as exc:
                raise ValueError(f"cannot split command: {exc}") from exc
        return value


class LlmAgent(Tagged):
    """One chat completion through the official OpenAI or Anthropic SDK."""

    backend: Literal["llm"] = "llm"
    provider: Literal["openai", "anthropic"] = "openai"
    model: str = Field(min_length=1)
    prompt: str = Field(
        min_length=1, max_length=MAX_TEXT, description="User message; the step input is appended"
    )
    system: str | None = Field(None, max_length=MAX_TEXT)
    max_tokens: Integer = Field(1024, ge=1, le=200_000)
    temperature: float | None = Field(None, ge=0, le=2)
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint (Ollama, vLLM)")


class ClaudeCodeAgent(Tagged):
    """The Claude Code CLI, headless, in its own git worktree of `repo`."""

    backend: Literal["claude_code"] = "claude_code"
    prompt: str = Field(min_length=1, max_length=MAX_TEXT)
    repo: str = Field(min_length=1, description="Path of the git repository to work in")
    model: str | None = None
    permission_mode: Literal["default", "acceptEdits", "bypassPermissions", "plan"] = Field(
        "default",
        description="default: tools outside allowed_tools are refused; acceptEdits: file "
        "edits too are allowed; plan: read-only; bypassPermissions: every tool, only on "
        "workers that allow it (ACC_CLAUDE_ALLOW_BYPASS_PERMISSIONS)",
    )
    allowed_tools: list[str] = Field(
        default_factory=list, description="Tools allowed without asking, e.g. Bash(npm test:*)"
    )
    disallowed_tools: list[str] = Field(default_factory=list, description="Tools never allowed")
    accept_denials: bool = Field(
        False, description="A refused tool call does not fail the step (it is still reported)"
    )
    append_system_prompt: str | None = Field(
        None, description="Added to Claude Code's system prompt"
    )
    max_turns: Annotated[int, Field(ge=1, le=500), Integral] | None = None
    max_budget_usd: float | None = Field(
        None, gt=0, description="The step's budget: the CLI stops there and the step fails"
    )
    resume: bool = Field(False, description="Resume this run's previous session of this role")
    role: str = Field("worker", pattern=NAME_PATTERN)
    other_worktrees: list[Annotated[str, Field(pattern=NAME_PATTERN)]] = Field(
        default_factory=list,
        description="Roles of this run whose worktrees this agent may also read and edit "
        "(--add-dir), e.g. a manager reviewing its worker's code",
    )


class PythonAgent(Tagged):
    """A callable registered under the `acc.agents` entry point group."""

    backend: Literal["python"] = "python"
    plugin: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)


class RemoteAgent(Tagged):
    """An agent process connected over WebSocket, chosen by id or capability."""

    backend: Literal["remote"] = "remote"
    agent_id: str | None = Field(None, max_length=200)
    capability: str | None = Field(None, max_length=200)
    prompt: str = Field("", max_length=MAX_TEXT)
    affinity_key: str | None = Field(
        None,
        max_length=200,
        description="Steps with the same key go to the agent that took the last one, while "
        "it is connected and has room (the router's affinity, shared in Redis)",
    )


class RoutedAgent(Tagged):
    """Any declared agent (ACC_AGENTS_FILE) with the capability, chosen by the router at
    run time: skill, load, affinity, breakers, rules and A/B experiments decide."""

    backend: Literal["routed"] = "routed"
    capability: str = Field(min_length=1, max_length=200)
    min_skill: float = Field(0.0, ge=0, le=1)
    prompt: str = Field(
        "", max_length=MAX_TEXT, description="Replaces the chosen agent's prompt when set"
    )
    preferred: str | None = None
    affinity_key: str | None = Field(None, description="Related tasks go to the same agent")
    experiment: str | None = None


ReviewCategory = Literal["security", "correctness", "performance", "style"]
REVIEW_CATEGORIES: tuple[ReviewCategory, ...] = ("security", "correctness", "performance", "style")


class ReviewAgent(Tagged):
    """acc's code review (semgrep rule packs and complexity) over the run's working
    directory. Prints JSON {score, feedback, blocking, suggestions}: score 1 when no
    suggestion at or above `fail_on` remains, else 0, so a supervisor's quality gate passes
    only once they are gone, and the feedback lists them with their fixes."""

    backend: Literal["review"] = "review"
    paths: list[str] = Field(
        default_factory=lambda: ["."],
        min_length=1,
        max_length=100,
        description="Files or folders relative to the run's working directory",
    )
    fail_on: Literal["error", "warning", "info"] = Field(
        "warning", description="Suggestions this severe or worse block the gate"
    )
    min_confidence: float = Field(0.0, ge=0, le=1, description="Ignore less certain findings")
    categories: list[ReviewCategory] = Field(
        default_factory=lambda: list(REVIEW_CATEGORIES), min_length=1
    )

    @field_validator("paths")
    @classmethod
    def _relative(cls, value: list[str]) -> list[str]:
        for path in value:
            parts = path.replace("\\", "/").split("/")
            if path.startswith("/") or ".." in parts or not path.strip():
                raise ValueError(f"{path!r}: paths are relative to the run's directory, no '..'")
        return value


AgentSpec = Annotated[
    ShellAgent | LlmAgent | ClaudeCodeAgent | PythonAgent | RemoteAgent | RoutedAgent | ReviewAgent,
    Field(discriminator="backend"),
]


class RetrySpec(Strict):
    """Attempts for the agent's own failures (a non-zero exit, a refused tool, an API
    error). A worker lost mid-step is not the agent's failure: that step is retried
    regardless (up to LOST_WORKER_RETRIES times), resuming from its receipt or progress."""

    max_attempts: Integer = Field(1, ge=1, le=20)
    initial_interval_seconds: float = Field(1.0, gt=0, le=3600)
    backoff: float = Field(2.0, ge=1, le=10)


class ApprovalSpec(Strict):
    """Wait for a person (`POST /v1/runs/{id}/approve` or `/reject`) before the step runs."""

    reason: str = Field("approval required", max_length=2000)
    group: str | None = Field(
        None, max_length=200, description="Only a member of this group may approve or reject"
    )
    timeout_seconds: float | None = Field(
        None, gt=0, le=MAX_WAIT_SECONDS, description="Reject when it runs out (at most 30 days)"
    )


class StepSpec(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    agent: AgentSpec
    input: str | None = Field(
        None,
        max_length=MAX_TEXT,
        description="Template of the step's input: {{input}} (the pattern's default input), "
        "{{run.input}}, {{steps.NAME.output}}",
    )
    timeout_seconds: float = Field(600, gt=0, le=MAX_STEP_SECONDS)
    retry: RetrySpec = Field(default_factory=RetrySpec)
    idempotent: bool = Field(
        True,
        description="Whether the step may run again when its worker was lost mid-step with "
        "no receipt of how it ended; false fails the step instead",
    )
    approval: ApprovalSpec | None = None


class BudgetSpec(Strict):
    """Limits enforced inside the workflow, checked before and after every agent step."""

    max_tokens: Annotated[int, Field(ge=1, le=MAX_TOKENS_BUDGET), Integral] | None = None
    max_cost_usd: float | None = Field(None, gt=0, le=MAX_COST_BUDGET_USD)
    max_wall_seconds: float | None = Field(None, gt=0, le=MAX_WAIT_SECONDS)
    on_exceed: Literal["fail", "pause"] = Field(
        "fail", description="fail the run, or pause it until approved (or rejected)"
    )


class RunBase(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    description: str = Field("", max_length=10_000)
    input: str = Field(
        "", max_length=MAX_TEXT, description="The run's input, {{run.input}} in templates"
    )
    budget: BudgetSpec = Field(default_factory=BudgetSpec)


def _unique(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{what} name {name!r} is used twice")
        seen.add(name)


class PipelineSpec(RunBase):
    """Steps one after another; each reads the previous step's output."""

    pattern: Literal["pipeline"] = "pipeline"
    steps: list[StepSpec] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _unique_steps(self) -> PipelineSpec:
        _unique([s.name for s in self.steps], "step")
        return self


class ScatterGatherSpec(RunBase):
    """Every agent on every task (the run input when `tasks` is empty), then a reducer."""

    model_config = ConfigDict(json_schema_extra=_requires("pattern"))

    pattern: Literal["scatter-gather"] = "scatter-gather"
    agents: list[StepSpec] = Field(min_length=1, max_length=100)
    tasks: list[str] = Field(default_factory=list, max_length=10_000)
    max_concurrency: Integer = Field(4, ge=1, le=100)
    reducer: Literal["collect", "majority", "best_score"] = "collect"
    scorer: StepSpec | None = Field(None, description="Prints a 0..1 score of its input")
    quorum: Annotated[int, Field(ge=1, le=1_000_000), Integral] | None = Field(
        None, description="Successes needed; default all"
    )
    on_partial_failure: Literal["fail", "continue"] = "continue"

    @model_validator(mode="after")
    def _check(self) -> ScatterGatherSpec:
        _unique([s.name for s in self.agents], "agent")
        if self.reducer == "best_score" and self.scorer is None:
            raise ValueError("reducer best_score needs a scorer step")
        jobs = len(self.agents) * max(1, len(self.tasks))
        if jobs > MAX_FAN_OUT_JOBS:
            raise ValueError(
                f"{len(self.agents)} agents x {len(self.tasks)} tasks is {jobs} jobs; a run "
                f"takes at most {MAX_FAN_OUT_JOBS}"
            )
        if self.quorum is not None and self.quorum > jobs:
            raise ValueError(f"quorum {self.quorum} is more than the {jobs} jobs")
        return self


class Participant(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    propose: StepSpec
    vote: StepSpec = Field(description="Reads the proposals as JSON, prints the chosen id")
    weight: float = Field(1.0, gt=0, le=1000, description="Skill weight for weighted voting")


class ConsensusSpec(RunBase):
    """Participants propose, then vote in rounds until the threshold or the round limit."""

    model_config = ConfigDict(json_schema_extra=_requires("pattern"))

    pattern: Literal["consensus"] = "consensus"
    participants: list[Participant] = Field(min_length=2, max_length=50)
    rule: Literal["majority", "unanimous", "weighted"] = "majority"
    threshold: float = Field(0.5, gt=0, le=1, description="Weight share for weighted")
    max_rounds: Integer = Field(3, ge=1, le=20)

    @model_validator(mode="after")
    def _unique_participants(self) -> ConsensusSpec:
        _unique([p.name for p in self.participants], "participant")
        return self


class SagaStep(StepSpec):
    compensate: StepSpec | None = Field(None, description="Undoes this step; reads its output")


class SagaSpec(RunBase):
    """Steps with compensations, undone in reverse order when a later step fails."""

    model_config = ConfigDict(json_schema_extra=_requires("pattern"))

    pattern: Literal["saga"] = "saga"
    steps: list[SagaStep] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _unique_steps(self) -> SagaSpec:
        _unique([s.name for s in self.steps], "step")
        return self


class SupervisorSpec(RunBase):
    """A manager plans subtasks, workers (child workflows) do them, a reviewer scores the
    result against the quality gate; repeat with feedback until it passes."""

    model_config = ConfigDict(json_schema_extra=_requires("pattern"))

    pattern: Literal["supervisor"] = "supervisor"
    manager: StepSpec = Field(description="Prints a plan: JSON {subtasks: [...]} or lines")
    workers: dict[str, StepSpec] = Field(
        min_length=1, description="Worker step per capability; 'default' catches the rest"
    )
    reviewer: StepSpec = Field(description="Prints a 0..1 score, or JSON {score, feedback}")
    quality_threshold: float = Field(0.7, ge=0, le=1)
    max_iterations: Integer = Field(3, ge=1, le=100)
    max_parallel_workers: Integer = Field(4, ge=1, le=50)
    max_workers_per_iteration: Integer = Field(8, ge=1, le=200)
    feedback_to_workers: bool = Field(
        False,
        description="Also append the reviewer's feedback to each worker's task (workers "
        "that fix their own output, e.g. against a `review` step's findings)",
    )


class Handler(Strict):
    on: str = Field(min_length=1, max_length=200, description="Event type this handler reacts to")
    step: StepSpec


class EventDrivenSpec(RunBase):
    """A long-lived run that reacts to events sent to it, until a `stop` event."""

    model_config = ConfigDict(json_schema_extra=_requires("pattern"))

    pattern: Literal["event-driven"] = "event-driven"
    handlers: list[Handler] = Field(min_length=1, max_length=100)
    stop_on: str = Field("stop", max_length=200)
    max_events: Annotated[int, Field(ge=1, le=100_000_000), Integral] | None = None
    events_per_history: Integer = Field(
        200, ge=1, le=10_000, description="Continue-as-new after this many events"
    )


def default_pattern(raw: object) -> object:
    """A spec without `pattern` is a pipeline."""
    if isinstance(raw, dict) and "pattern" not in raw:
        return {**raw, "pattern": "pipeline"}
    return raw


AnySpec = Annotated[
    PipelineSpec | ScatterGatherSpec | ConsensusSpec | SagaSpec | SupervisorSpec | EventDrivenSpec,
    Field(discriminator="pattern"),
]
RunSpec = Annotated[AnySpec, BeforeValidator(default_pattern)]
RUN_SPEC: TypeAdapter[RunSpec] = TypeAdapter(RunSpec)
PATTERNS = ("pipeline", "scatter-gather", "consensus", "saga", "supervisor", "event-driven")
Pattern = Literal["pipeline", "scatter-gather", "consensus", "saga", "supervisor", "event-driven"]


def render(template: str, texts: Mapping[str, str]) -> str:
    """`template` with each `{{key}}` it has a text for replaced by that text, once: a text
    holding `{{...}}` itself is inserted as it is, never expanded in turn."""
    return TEMPLATE_KEY.sub(lambda m: texts.get(m.group(1), m.group(0)), template)


def parse_spec(raw: object) -> RunSpec:
    """Validate a spec (a dict from JSON or YAML)."""
    return RUN_SPEC.validate_python(raw)


def run_spec_schema() -> dict[str, Any]:
    return RUN_SPEC.json_schema()


def step_specs(spec: RunSpec) -> list[StepSpec]:
    """The spec's agent steps as written (not as run: fan-outs and iterations repeat them)."""
    found: list[StepSpec] = []

    def walk(value: object) -> None:
        if isinstance(value, StepSpec):
            found.append(value)
            if isinstance(value, SagaStep) and value.compensate is not None:
                found.append(value.compensate)
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(spec)
    return found
