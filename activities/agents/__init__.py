"""Agents as activities: `run_agent` hands a step to its backend and reports what happened."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.agents.base import AgentBackend, AgentContext
from activities.agents.claude_code import ClaudeCodeBackend
from activities.agents.llm import LlmBackend
from activities.agents.python_plugin import PythonBackend
from activities.agents.remote import RemoteBackend, completes_async
from activities.agents.runtime import AgentRuntime
from activities.agents.shell import ShellBackend
from core.artifacts import ArtifactStore
from core.bus import EventBus
from core.contracts import AgentResult, AgentTask
from core.events import Event
from core.settings import Settings
from core.specs import TEMPLATE_KEY


def default_backends(settings: Settings) -> dict[str, AgentBackend]:
    return {
        "shell": ShellBackend(settings),
        "llm": LlmBackend(settings),
        "claude_code": ClaudeCodeBackend(settings),
        "python": PythonBackend(),
        "remote": RemoteBackend(),  # the WebSocket pool passes its dispatcher
    }


class AgentActivities:
    """Runs agent steps. Clients come in through the constructor, built once per worker."""

    def __init__(
        self,
        settings: Settings,
        bus: EventBus,
        artifacts: ArtifactStore,
        backends: dict[str, AgentBackend] | None = None,
        runtime: AgentRuntime | None = None,
    ) -> None:
        self._settings = settings
        self._bus = bus
        self._artifacts = artifacts
        self._backends = backends if backends is not None else default_backends(settings)
        # Routing, breakers, leases and rate limits shared through Redis; without it (tests,
        # tools) steps call their backend directly.
        self._runtime = runtime

    def workdir(self, run_id: str) -> Path:
        return self._settings.data_dir / "runs" / run_id

    @activity.defn
    async def run_agent(self, task: AgentTask) -> AgentResult:
        attempt = activity.info().attempt
        await self._emit(task, "step.started", attempt=attempt, backend=task.agent.backend)
        try:
            result = await self._run(task)
        except BaseException as exc:
            if not completes_async(exc):  # a remote step handed off is not a failure
                await self._emit(task, "step.failed", attempt=attempt, error=str(exc) or repr(exc))
            raise
        await self._emit(
            task,
            "step.completed",
            attempt=attempt,
            duration_ms=round(result.duration_ms, 2),
            output_size=result.output.size,
            **result.usage.model_dump(),
        )
        return result

    async def _run(self, task: AgentTask) -> AgentResult:
        started = time.perf_counter()
        ctx = AgentContext(
            task=task,
            input_text=await self._input_text(task),
            workdir=self.workdir(task.run_id),
            heartbeat=activity.heartbeat,
            emit=lambda kind, data: self._emit(task, kind, **data),
        )
        if self._runtime is not None:
            outcome = await self._runtime.run(ctx, self._bus.publish)
        else:
            backend = self._backends.get(task.agent.backend)
            if backend is None:
                raise ApplicationError(
                    f"no {task.agent.backend!r} backend on this worker",
                    type="BackendUnavailable",
                    non_retryable=True,
                )
            outcome = await backend.run(ctx)
        result = AgentResult(
            output=await self._artifacts.to_output(outcome.text, truncated=outcome.truncated),
            exit_code=outcome.exit_code,
            stderr=outcome.stderr,
            duration_ms=(time.perf_counter() - started) * 1000,
            usage=outcome.usage,
            session_id=outcome.session_id,
        )
        if outcome.error is not None:
            raise ApplicationError(outcome.error, result, type="AgentFailed")
        return result

    async def _input_text(self, task: AgentTask) -> str:
        """The step's input: its given output, or its template filled from the run so far
        (artifact-stored outputs are read in full, not their inline preview)."""
        if task.template is None:
            return await self._artifacts.read_output(task.input)
        texts = {key: await self._artifacts.read_output(out) for key, out in task.context.items()}
        return TEMPLATE_KEY.sub(lambda m: texts.get(m.group(1), m.group(0)), task.template)

    async def _emit(self, task: AgentTask, kind: str, **data: Any) -> None:
        await self._bus.publish(
            Event.model_validate(
                {
                    "type": kind,
                    "source": "worker/agents",
                    "run_id": task.run_id,
                    "tenant": task.tenant,
                    "step": task.step_name,
                    "data": {"index": task.step_index, **data},
                }
            )
        )
