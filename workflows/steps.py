"""How a workflow runs one agent step: the `run_agent` activity or the `AgentStepWorkflow`
child, called by name with typed results, with the step's timeouts and retry policy, and
labelled for the Temporal Web UI (each bar reads "step · backend", not "run_agent").

Shared by the pattern workflows and the child workflow, so neither imports the other.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from core.contracts import (
        AGENT_STEP_WORKFLOW,
        RUN_AGENT,
        AgentResult,
        AgentStepInput,
        AgentTask,
        Output,
    )
    from core.specs import LOST_WORKER_RETRIES, TEMPLATE_KEY, StepSpec

HEARTBEAT_TIMEOUT = timedelta(seconds=5)
# The agent enforces the step's own timeout; Temporal's is a backstop a little later.
TIMEOUT_GRACE = timedelta(seconds=15)
# Failures retrying cannot fix: the step fails at once whatever its retry policy says.
NON_RETRYABLE = ["CommandRejected", "TemplateError", "BackendUnavailable"]


def retry_policy(step: StepSpec) -> RetryPolicy:
    """Temporal retries every attempt that ends without a report (a lost worker, a
    heartbeat timeout) after 1 s, 2 s, 4 s... up to 30 s. `run_agent` itself counts the
    agent's own failures against `step.retry` (attempts and backoff), and turns the last
    one non-retryable; the cap here only bounds both together."""
    return RetryPolicy(
        maximum_attempts=step.retry.max_attempts + LOST_WORKER_RETRIES + 1,
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        non_retryable_error_types=NON_RETRYABLE,
    )


def template_context(
    step: str, template: str, outputs: dict[str, Output], hint: str = ""
) -> dict[str, Output]:
    """The outputs a step's input template names ({{input}}, {{steps.NAME.output}}...), or
    a non-retryable TemplateError naming a key it cannot have."""
    context: dict[str, Output] = {}
    for key in TEMPLATE_KEY.findall(template):
        if key not in outputs:
            raise ApplicationError(
                f"step {step!r}: unknown template key {{{{{key}}}}}"
                + (f"; {hint}" if hint else ""),
                type="TemplateError",
                non_retryable=True,
            )
        context[key] = outputs[key]
    return context


def summary(task: AgentTask) -> str:
    """What the Web UI shows on the step's bar: `review · llm (gpt-4o)`, `#3 of group`."""
    agent = task.agent
    detail = getattr(agent, "model", None) or getattr(agent, "capability", None)
    label = f"{task.step_name} · {agent.backend}" + (f" ({detail})" if detail else "")
    return label + (f" · {task.group}" if task.group else "") + f" · #{task.step_index}"


async def run_agent(task: AgentTask, step: StepSpec, agents_queue: str) -> AgentResult:
    """The step as a `run_agent` activity on the agents queue."""
    result: AgentResult = await workflow.execute_activity(
        RUN_AGENT,
        task,
        result_type=AgentResult,
        task_queue=agents_queue,
        start_to_close_timeout=timedelta(seconds=step.timeout_seconds) + TIMEOUT_GRACE,
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
        retry_policy=retry_policy(step),
        summary=summary(task),
    )
    return result


async def run_child(
    task: AgentTask, step: StepSpec, agents_queue: str, workflow_id: str
) -> AgentResult:
    """The step in its own `AgentStepWorkflow` child, on this workflow's task queue."""
    result: AgentResult = await workflow.execute_child_workflow(
        AGENT_STEP_WORKFLOW,
        AgentStepInput(task=task, step=step, agents_queue=agents_queue),
        result_type=AgentResult,
        id=workflow_id,
        task_queue=workflow.info().task_queue,
        static_summary=summary(task),
    )
    return result


def reason(err: BaseException) -> str:
    """The agent's own message (e.g. "false exited with code 1"), not Temporal's wrapper."""
    cause = err
    while isinstance(cause, ActivityError | ChildWorkflowError) and cause.cause is not None:
        cause = cause.cause
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause) or type(cause).__name__
