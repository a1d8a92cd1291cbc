"""The remote backend: hands a step to an agent process connected over WebSocket.

The workflows never see the connection. `run_agent` runs on a worker like any other step;
this backend passes the task and the activity's task token to a `RemoteDispatcher` (the
WebSocket pool's, `pool/dispatcher.py`, which every worker is built with; docs/POOL.md)
and returns an outcome marked `handed_off`, on which
`run_agent` ends with `activity.raise_complete_async()`: the activity stays open in
Temporal until the pool reports for it, from any process, by task token.

The protocol the pool implements:

1. `dispatch(agent_id, capability, task, task_token)` chooses a connected agent (by id, else
   any with the capability), sends it the task, and returns once the agent accepted it.
   The task's input is resolved (template filled, artifacts read) and the spec's `prompt`
   is in `task.agent`, so the agent needs no access to acc's stores.
   It raises `ApplicationError` when it cannot: type "RemoteUnavailable" (retryable) when
   no suitable agent is connected, or non-retryable when the task can never be taken.
2. While the agent works, the pool heartbeats at least every 5 s (the workflows' heartbeat
   timeout), or Temporal times the attempt out and retries it:
       handle = client.get_async_activity_handle(task_token=task_token)
       await handle.heartbeat(progress)
3. When the agent answers: `await handle.complete(AgentResult(...))` (outputs larger than
   ACC_INLINE_OUTPUT_LIMIT go to the artifact store first, as `run_agent` does), or
   `await handle.fail(ApplicationError(message, type="AgentFailed"))`. When the
   connection drops, fail it as retryable "RemoteDisconnected" so another agent gets it.
4. A heartbeat or completion raising `temporalio.client.AsyncActivityCancelledError`
   means the run cancelled the step: tell the agent to stop, then `report_cancellation()`.

Since `run_agent` returns before the agent finishes, the pool also publishes the step's
"step.completed" / "step.failed" events, and records the outcome on the agent's circuit
breaker; the concurrency lease of a routed remote agent covers the dispatch only, the
pool holding each connected agent to its own capacity.
"""

from __future__ import annotations

from typing import Protocol

from temporalio.exceptions import ApplicationError

from agents.base import AgentContext, AgentOutcome
from core.contracts import AgentTask, Output
from core.specs import RemoteAgent


class RemoteDispatcher(Protocol):
    async def dispatch(
        self, agent_id: str | None, capability: str | None, task: AgentTask, task_token: bytes
    ) -> None:
        """Hand `task` to a connected agent that will complete `task_token`; see above."""
        ...


class RemoteBackend:
    def __init__(self, dispatcher: RemoteDispatcher | None = None) -> None:
        self.dispatcher = dispatcher

    async def run(self, ctx: AgentContext) -> AgentOutcome:
        agent = ctx.task.agent
        assert isinstance(agent, RemoteAgent)
        if self.dispatcher is None:
            # Nothing on this worker can ever reach a remote agent: retrying cannot help.
            raise ApplicationError(
                "no WebSocket pool is connected to this worker, so remote agents cannot be "
                "reached; run the pool, or give the step another backend",
                type="RemoteUnavailable",
                non_retryable=True,
            )
        # The remote agent gets its input resolved: it needs no access to acc's stores.
        task = ctx.task.model_copy(
            update={"input": Output.of(ctx.input_text), "template": None, "context": {}}
        )
        await self.dispatcher.dispatch(agent.agent_id, agent.capability, task, ctx.task_token)
        return AgentOutcome(text="", handed_off=True)
