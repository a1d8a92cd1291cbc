"""`run_agent`: the activity every agent step is. It resolves the step's input, hands the
step to the agent runtime (routing, limits, breakers, then the backend), keeps large
outputs in the artifact store, and reports the step's start and end on the bus."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents.base import AgentContext
from agents.runtime import AgentRuntime
from core.artifacts import ArtifactStore
from core.bus import EventBus
from core.contracts import RUN_AGENT, AgentResult, AgentTask
from core.events import Event
from core.settings import Settings
from core.specs import TEMPLATE_KEY


class Progress:
    """How far a step got, kept in the activity's heartbeat details: every heartbeat carries
    it, and the next attempt after a lost one starts from it (`AgentContext.resumed`)."""

    def __init__(self, details: Sequence[Any]) -> None:
        last = details[0] if details else None
        self.state: dict[str, Any] = dict(last) if isinstance(last, dict) else {}

    def beat(self) -> None:
        activity.heartbeat(self.state)

    def record(self, **values: Any) -> None:
        self.state.update(values)
        self.beat()


class AgentActivities:
    """Runs agent steps. Clients come in through the constructor, built once per worker."""

    def __init__(
        self, settings: Settings, bus: EventBus, artifacts: ArtifactStore, runtime: AgentRuntime
    ) -> None:
        self._settings = settings
        self._bus = bus
        self._artifacts = artifacts
        self._runtime = runtime

    def workdir(self, run_id: str) -> Path:
        return self._settings.data_dir / "runs" / run_id

    @activity.defn(name=RUN_AGENT)
    async def run_agent(self, task: AgentTask) -> AgentResult:
        attempt = activity.info().attempt
        await self._emit(task, "step.started", attempt=attempt, backend=task.agent.backend)
        try:
            result = await self._run(task)
        except BaseException as exc:
            await self._emit(task, "step.failed", attempt=attempt, error=str(exc) or repr(exc))
            raise
        if result is None:  # a remote agent reports for the step later, by task token
            activity.raise_complete_async()
        await self._emit(
            task,
            "step.completed",
            attempt=attempt,
            duration_ms=round(result.duration_ms, 2),
            output_size=result.output.size,
            **result.usage.model_dump(),
        )
        return result

    async def _run(self, task: AgentTask) -> AgentResult | None:
        started = time.perf_counter()
        info = activity.info()
        progress = Progress(info.heartbeat_details)
        ctx = AgentContext(
            task=task,
            input_text=await self._input_text(task),
            workdir=self.workdir(task.run_id),
            heartbeat=progress.beat,
            emit=lambda kind, data: self._emit(task, kind, **data),
            task_token=info.task_token,
            resumed=dict(progress.state),
            record=progress.record,
        )
        outcome = await self._runtime.run(ctx, self._bus.publish)
        if outcome.handed_off:
            return None
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
