"""Agents as activities: `run_agent` hands a step to its backend and reports what happened."""

from __future__ import annotations

from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.agents import shell
from core.artifacts import ArtifactStore
from core.bus import EventBus
from core.contracts import AgentResult, AgentTask
from core.events import Event
from core.settings import Settings


class AgentActivities:
    """Runs agent steps. Clients come in through the constructor, built once per worker."""

    def __init__(self, settings: Settings, bus: EventBus, artifacts: ArtifactStore) -> None:
        self._settings = settings
        self._bus = bus
        self._artifacts = artifacts

    def workdir(self, run_id: str) -> Path:
        return self._settings.data_dir / "runs" / run_id

    @activity.defn
    async def run_agent(self, task: AgentTask) -> AgentResult:
        attempt = activity.info().attempt
        await self._emit(task, "step.started", attempt=attempt, backend=task.agent.backend)
        try:
            result = await self._run_shell(task)
        except BaseException as exc:
            await self._emit(task, "step.failed", attempt=attempt, error=str(exc) or repr(exc))
            raise
        await self._emit(
            task,
            "step.completed",
            attempt=attempt,
            duration_ms=round(result.duration_ms, 2),
            output_size=result.output.size,
        )
        return result

    async def _run_shell(self, task: AgentTask) -> AgentResult:
        settings = self._settings
        try:
            executable = shell.resolve(task.agent, settings.allows_command, settings.SHELL_PATH)
        except shell.CommandRejected as exc:
            raise ApplicationError(str(exc), type="CommandRejected", non_retryable=True) from None
        stdin = await self._artifacts.read_output(task.input)
        try:
            outcome = await shell.run(
                task.agent,
                executable=executable,
                stdin=stdin,
                cwd=self.workdir(task.run_id),
                path=settings.SHELL_PATH,
                timeout=task.timeout_seconds,
                output_limit=settings.SHELL_OUTPUT_LIMIT,
                tick=activity.heartbeat,
                extra_env={"ACC_RUN_ID": task.run_id, "ACC_STEP": task.step_name},
            )
        except shell.CommandTimedOut as exc:
            raise ApplicationError(str(exc), type="CommandTimedOut") from None
        output = await self._artifacts.to_output(outcome.stdout, truncated=outcome.truncated)
        result = AgentResult(
            output=output,
            exit_code=outcome.exit_code,
            stderr=outcome.stderr,
            duration_ms=outcome.duration_ms,
        )
        if outcome.exit_code != 0:
            last_line = outcome.stderr.strip().splitlines()[-1:] or [""]
            raise ApplicationError(
                f"{task.agent.command[0]} exited with code {outcome.exit_code}"
                + (f": {last_line[0]}" if last_line[0] else ""),
                result,
                type="CommandFailed",
            )
        return result

    async def _emit(self, task: AgentTask, kind: str, **data: object) -> None:
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
