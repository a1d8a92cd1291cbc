"""Typed models that cross process boundaries: run inputs, agent tasks and results, run
state, decisions and events sent to runs.

The API validates a spec (`core.specs`), the workflow receives a `RunInput`, each agent
step is an `AgentTask` answered by an `AgentResult`, and the workflow's live and final
state is a `RunState`. All of them travel through Temporal with the pydantic converter.

The names of the workflows and activities are part of the contract too: the API starts
workflows and the workflows call activities and child workflows by these names, so no
process imports another's implementation (the workers register them under these names).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.specs import AgentSpec, Pattern, RetrySpec, RunSpec, StepSpec

WORKFLOW_OF_PATTERN: dict[Pattern, str] = {
    "pipeline": "PipelineWorkflow",
    "scatter-gather": "ScatterGatherWorkflow",
    "consensus": "ConsensusWorkflow",
    "saga": "SagaWorkflow",
    "supervisor": "SupervisorWorkflow",
    "event-driven": "EventDrivenWorkflow",
}
AGENT_STEP_WORKFLOW = "AgentStepWorkflow"  # one agent step in a child workflow
FAN_OUT_BATCH_WORKFLOW = "FanOutBatchWorkflow"  # a bounded share of a large fan-out
RUN_AGENT = "run_agent"  # activity: AgentTask -> AgentResult
PUBLISH_RUN_EVENT = "publish_run_event"  # local activity: RunEvent -> None
STORE_BATCH = "store_batch"  # activity: list[JobResult] -> artifact id
REDUCE_BATCHES = "reduce_batches"  # activity: ReduceInput -> ReduceResult
RETENTION_WORKFLOW = "RetentionWorkflow"  # the retention schedule's workflow
PURGE_EXPIRED = "purge_expired"  # activity: PurgeInput -> PurgeResult
RETENTION_SCHEDULE = "acc-retention"  # + the orchestration queue it starts workflows on

RunStatus = Literal[
    "running", "waiting", "stuck", "completed", "failed", "cancelled", "terminated", "timed_out"
]
StepStatus = Literal["pending", "running", "completed", "failed", "cancelled"]


class Output(BaseModel):
    """A step's output: inline when small, else a reference into the artifact store."""

    text: str = ""
    artifact_id: str | None = None
    size: int = 0
    truncated: bool = False

    @classmethod
    def of(cls, text: str) -> Output:
        return cls(text=text, size=len(text.encode()))


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


class AgentTask(BaseModel):
    run_id: str
    tenant: str
    step_index: int = Field(description="The step's position in the run's timeline")
    step_name: str
    group: str | None = None
    agent: AgentSpec
    input: Output = Field(default_factory=Output)
    template: str | None = Field(None, description="Rendered with `context` into the input")
    context: dict[str, Output] = Field(default_factory=dict)
    timeout_seconds: float = 600
    retry: RetrySpec = Field(default_factory=RetrySpec)
    idempotent: bool = True
    store_output: bool = Field(
        False, description="Keep the output in the artifact store whatever its size"
    )


class AgentResult(BaseModel):
    output: Output
    exit_code: int = 0
    stderr: str = Field("", description="Tail of the agent's error stream")
    duration_ms: float = 0
    usage: Usage = Field(default_factory=Usage)
    session_id: str | None = Field(None, description="Backend session, for resuming it")


class StepState(BaseModel):
    index: int = Field(description="Position in the run's timeline; `fork --from-step` uses it")
    name: str
    group: str | None = Field(None, description="e.g. round-1, iteration-2, compensation")
    kind: Literal["agent", "child"] = "agent"
    status: StepStatus = "pending"
    started_at: datetime | None = None
    ended_at: datetime | None = None
    reused: bool = Field(False, description="Result taken from the run this one forks")
    child_id: str | None = None
    result: AgentResult | None = None
    error: str | None = None


class Waiting(BaseModel):
    kind: Literal["approval", "budget"]
    step: str | None = None
    reason: str
    since: datetime
    group: str | None = Field(None, description="Only a member of this group may decide")


class Decision(BaseModel):
    """A person's answer to a waiting run: who (the credential's subject) and why."""

    approve: bool
    comment: str = ""
    by: str = "api"
    groups: list[str] = Field(default_factory=list, description="The decider's groups")


class ExternalEvent(BaseModel):
    """An event sent to an event-driven run (API or bus bridge)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    id: str = Field(min_length=1, max_length=200, description="Deduplication key")
    type: str = Field(min_length=1, max_length=200)
    data: dict[str, Any] = Field(default_factory=dict)


class Carried(BaseModel):
    """What a long-lived run carries over continue-as-new."""

    steps_before: int = 0
    usage: Usage = Field(default_factory=Usage)
    events_handled: int = 0
    seen_event_ids: list[str] = Field(default_factory=list)
    queued: list[ExternalEvent] = Field(default_factory=list)
    started_at: datetime | None = None
    notes: list[str] = Field(default_factory=list)
    # The supervisor's loop: the next iteration, the reviewer's last feedback, the best score.
    iteration: int = 1
    feedback: str = ""
    best: float = 0.0


class RunInput(BaseModel):
    run_id: str
    tenant: str
    spec: RunSpec
    agents_queue: str = Field(description="Task queue of the agent activities")
    fan_out_batch: int = Field(
        200, ge=1, description="Jobs per child workflow when a fan-out is larger than this"
    )
    history_events: int = Field(
        5_000, ge=10, description="A long run continues as new past this many history events"
    )
    recorded: dict[int, AgentResult] = Field(
        default_factory=dict, description="Results reused by step index (fork)"
    )
    edited_inputs: dict[int, str] = Field(
        default_factory=dict, description="Step index -> replacement input (fork --input)"
    )
    parent_run_id: str | None = None
    carried: Carried | None = None


class RunState(BaseModel):
    """Live state (Temporal query) and final result of a run."""

    run_id: str
    name: str
    pattern: str
    tenant: str
    status: RunStatus = "running"
    waiting: Waiting | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    current_step: int | None = None
    steps: list[StepState] = Field(default_factory=list)
    pending: list[str] = Field(default_factory=list, description="Planned steps not started")
    usage: Usage = Field(default_factory=Usage)
    output: Output | None = None
    error: str | None = None
    quality: float | None = Field(None, description="0..1, see docs/QUALITY.md")
    notes: list[str] = Field(default_factory=list, description="Decisions taken, and why")
    parent_run_id: str | None = None
    events_handled: int = 0


class RunEvent(BaseModel):
    """What the orchestration worker publishes when a run waits for a person or ends."""

    run_id: str
    tenant: str
    type: Literal["run.started", "run.waiting", "run.completed", "run.failed", "run.cancelled"]
    pattern: str
    name: str
    error: str | None = None
    quality: float | None = None
    waiting: Waiting | None = None
    duration_ms: float | None = Field(None, description="From the run's start to its end")
    usage: Usage | None = Field(None, description="The run's tokens and cost, at its end")


class AgentStepInput(BaseModel):
    """Input of the `AgentStepWorkflow` child: one step, run as its own workflow."""

    task: AgentTask
    step: StepSpec
    agents_queue: str


class BatchJob(BaseModel):
    """One job of a large fan-out: one of the batch's steps on one task."""

    step: int = Field(description="Index into BatchInput.steps")
    task: str
    task_index: int


class BatchInput(BaseModel):
    run_id: str
    tenant: str
    run_input: str = Field("", description="The run's input, for {{run.input}} templates")
    agents_queue: str
    first_index: int = Field(description="Timeline index of the batch's first job")
    steps: list[StepSpec] = Field(description="The steps the jobs run, each given once")
    jobs: list[BatchJob]
    max_concurrency: int


class JobResult(BaseModel):
    """A job's outcome, compact: its output stays in the artifact store."""

    index: int
    agent: str
    task_index: int
    output: Output | None = None
    usage: Usage = Field(default_factory=Usage)
    error: str | None = None


class BatchResult(BaseModel):
    results: str = Field(description="Artifact id of the batch's JobResult list (JSON)")
    succeeded: int
    failed: int
    usage: Usage = Field(default_factory=Usage)
    errors: list[str] = Field(default_factory=list, description="The first few failures")


class BatchResults(BaseModel):
    """What a batch child stores (`store_batch`)."""

    tenant: str
    results: list[JobResult]


class ReduceInput(BaseModel):
    tenant: str
    reducer: Literal["collect", "majority"]
    batches: list[str] = Field(description="Artifact ids of the batches' results")


class ReduceResult(BaseModel):
    output: Output
    quality: float | None = None
    note: str = ""


class RetentionInput(BaseModel):
    """The retention schedule's input: how long rows and run folders are kept."""

    days: int = Field(description="SQL rows older than this many days are removed")
    workspaces_hours: float = Field(description="Folders of runs closed this long ago go")
    agents_queue: str = Field(description="Where the activity runs: the runs' folders are there")


class PurgeInput(BaseModel):
    """What the retention job removes: SQL rows from before `cutoff`, and the worktrees and
    run folders of runs closed before `workspaces_cutoff`."""

    cutoff: datetime
    workspaces_cutoff: datetime


class PurgeResult(BaseModel):
    rows: dict[str, int] = Field(default_factory=dict, description="Rows removed, by table")
    workspaces: list[str] = Field(default_factory=list, description="Run folders removed")
