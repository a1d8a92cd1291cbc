"""`run_agent`: the activity every agent step is. It resolves the step's input, hands the
step to the agent runtime (routing, limits, breakers, then the backend), keeps large
outputs in the artifact store, and reports the step's start and end on the bus."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
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
from core.receipts import ReceiptStore
from core.redact import Redactor
from core.settings import Settings
from core.specs import LOST_WORKER_RETRIES, render

MAX_RETRY_DELAY_SECONDS = 3600.0
REMOTE_WAIT = timedelta(seconds=2)  # between looks for a connected remote agent


def _no_agent_yet(exc: ApplicationError) -> bool:
    return exc.type == "RemoteUnavailable" and not exc.non_retryable


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
    """Runs agent steps. Clients come in through the constructor, built once per worker.

    Retries: Temporal retries an attempt that never reported (a lost worker) by itself; the
    agent's own failures are counted here, in the heartbeat details that carry over from
    attempt to attempt, against the step's `retry` (so a killed worker never uses up the
    step's attempts). A step that finished before its worker died is reported from its
    receipt, not run again.
    """

    def __init__(
        self,
        settings: Settings,
        bus: EventBus,
        artifacts: ArtifactStore,
        receipts: ReceiptStore,
        runtime: AgentRuntime,
    ) -> None:
        self._settings = settings
        self._bus = bus
        self._artifacts = artifacts
        self._receipts = receipts
        self._redact = Redactor.of(settings).text  # what leaves for history and events
        self._runtime = runtime

    def workdir(self, run_id: str) -> Path:
        return self._settings.data_dir / "runs" / run_id

    @activity.defn(name=RUN_AGENT)
    async def run_agent(self, task: AgentTask) -> AgentResult:
        info = activity.info()
        progress = Progress(info.heartbeat_details)
        failures = int(progress.state.get("failures", 0))
        waits = int(progress.state.get("waits", 0))  # attempts that found no remote agent
        lost = info.attempt - 1 - failures - waits  # earlier attempts that never reported
        await self._emit(
            task,
            "step.started",
            {"attempt": info.attempt, "backend": task.agent.backend, "lost": lost},
        )
        try:
            result = await self._attempt(task, progress, lost)
        except Exception as exc:
            failed = {"attempt": info.attempt, "error": str(exc) or repr(exc)}
            await self._emit(task, "step.failed", failed)
            if isinstance(exc, ApplicationError) and exc.type == "NoRemoteAgent":
                await self._dead_letter(task, info.attempt, exc)
            if isinstance(exc, ApplicationError) and _no_agent_yet(exc):
                progress.record(waits=waits + 1)  # an agent may connect: wait, not a failure
                raise ApplicationError(
                    exc.message, type="RemoteUnavailable", next_retry_delay=REMOTE_WAIT
                ) from exc
            raise self._counted(task, progress, failures + 1, exc) from exc
        except BaseException as exc:  # cancelled, or the worker shuts down: not the agent's
            await self._emit(task, "step.failed", {"attempt": info.attempt, "error": repr(exc)})
            raise
        if result is None:  # a remote agent reports for the step later, by task token
            activity.raise_complete_async()
        completed = {
            "attempt": info.attempt,
            "duration_ms": round(result.duration_ms, 2),
            "output_size": result.output.size,
            **result.usage.model_dump(),
        }
        await self._emit(task, "step.completed", completed)
        return result

    async def _attempt(self, task: AgentTask, progress: Progress, lost: int) -> AgentResult | None:
        """This attempt's result: from the receipt of an attempt that finished but never
        reported, else from running the agent (unless that is unsafe or too often lost)."""
        attempt = activity.info().attempt
        if lost > LOST_WORKER_RETRIES:
            raise ApplicationError(
                f"step {task.step_name!r} lost its worker {lost} times; giving up",
                type="WorkerLostTooOften",
                non_retryable=True,
            )
        if lost > 0:
            receipt = await self._receipts.get(task.run_id, task.step_index)
            if receipt is not None and receipt.attempt != progress.state.get("failed_attempt"):
                if receipt.error is not None:
                    raise ApplicationError(receipt.error, receipt.result, type="AgentFailed")
                return receipt.result
            if not task.idempotent:
                raise ApplicationError(
                    f"step {task.step_name!r} was interrupted when its worker was lost, and it "
                    "is marked idempotent: false, so it is not run again",
                    type="StepInterrupted",
                    non_retryable=True,
                )
        result, error = await self._run(task, progress)
        if result is not None:
            if self._settings.STEP_RECEIPTS:
                await self._receipts.put(task.run_id, task.step_index, attempt, result, error)
            if error is not None:
                raise ApplicationError(error, result, type="AgentFailed")
        return result

    async def _dead_letter(self, task: AgentTask, attempt: int, exc: ApplicationError) -> None:
        """A remote step no agent could take, with why, on the dead-letter topic."""
        details = exc.details[0] if exc.details and isinstance(exc.details[0], dict) else {}
        agent = task.agent
        event = Event(
            type="dispatch.failed",
            source="worker/agents",
            run_id=task.run_id,
            tenant=task.tenant,
            step=task.step_name,
            data={
                "index": task.step_index,
                "attempt": attempt,
                "capability": getattr(agent, "capability", None),
                "agent": getattr(agent, "agent_id", None),
                "reason": details.get("reason", "no agent connected"),
                "error": exc.message,
            },
        )
        await self._bus.publish(event, topic=self._settings.DEAD_LETTER_TOPIC)

    def _counted(
        self, task: AgentTask, progress: Progress, failures: int, exc: Exception
    ) -> ApplicationError:
        """The agent's failure as Temporal should see it: retried after the step's own
        backoff while attempts remain, else final. The count goes into the heartbeat
        details, which the next attempt receives."""
        attempt = activity.info().attempt
        progress.record(failures=failures, failed_attempt=attempt)
        err = exc if isinstance(exc, ApplicationError) else None
        final = failures >= task.retry.max_attempts or (err is not None and err.non_retryable)
        retry = task.retry
        delay = err.next_retry_delay if err is not None else None
        if delay is None and not final:
            seconds = retry.initial_interval_seconds * retry.backoff ** (failures - 1)
            delay = timedelta(seconds=min(seconds, MAX_RETRY_DELAY_SECONDS))
        return ApplicationError(
            self._redact(err.message if err is not None else (str(exc) or repr(exc))),
            *(err.details if err is not None else ()),
            type=err.type if err is not None else type(exc).__name__,
            non_retryable=final,
            next_retry_delay=None if final else delay,
        )

    async def _run(
        self, task: AgentTask, progress: Progress
    ) -> tuple[AgentResult | None, str | None]:
        """Run the agent once: its result and, when it ran but failed, its error."""
        started = time.perf_counter()
        info = activity.info()
        ctx = AgentContext(
            task=task,
            input_text=await self._input_text(task),
            workdir=self.workdir(task.run_id),
            heartbeat=progress.beat,
            emit=lambda kind, data: self._emit(task, kind, data),
            task_token=info.task_token,
            resumed=dict(progress.state),
            record=progress.record,
        )
        outcome = await self._runtime.run(ctx, self._bus.publish)
        if outcome.handed_off:
            return None, None
        text = self._redact(outcome.text)
        result = AgentResult(
            output=await self._artifacts.to_output(
                task.tenant, text, truncated=outcome.truncated, store=task.store_output
            ),
            exit_code=outcome.exit_code,
            stderr=self._redact(outcome.stderr),
            duration_ms=(time.perf_counter() - started) * 1000,
            usage=outcome.usage,
            session_id=outcome.session_id,
        )
        return result, None if outcome.error is None else self._redact(outcome.error)

    async def _input_text(self, task: AgentTask) -> str:
        """The step's input: its given output, or its template filled from the run so far
        (artifact-stored outputs are read in full, not their inline preview)."""
        if task.template is None:
            return await self._artifacts.read_output(task.tenant, task.input)
        texts = {
            key: await self._artifacts.read_output(task.tenant, out)
            for key, out in task.context.items()
        }
        return render(task.template, texts)

    async def _emit(self, task: AgentTask, kind: str, data: dict[str, Any]) -> None:
        usage = {k: data[k] for k in ("cost_usd", "input_tokens", "output_tokens") if k in data}
        await self._bus.publish(
            Event.model_validate(
                {
                    "type": kind,
                    "source": "worker/agents",
                    "run_id": task.run_id,
                    "tenant": task.tenant,
                    "step": task.step_name,
                    "agent": agent_label(task),
                    "cost_usd": usage.get("cost_usd"),
                    "tokens": (
                        usage.get("input_tokens", 0) + usage.get("output_tokens", 0)
                        if "input_tokens" in usage or "output_tokens" in usage
                        else None
                    ),
                    "data": {"index": task.step_index, **data},
                }
            )
        )


def agent_label(task: AgentTask) -> str:
    """Who ran the step, as events name it: the backend and its model, capability, plugin or
    agent id (`llm:gpt-4o`, `routed:review`, `shell`)."""
    agent = task.agent
    detail = next(
        (
            value
            for name in ("model", "capability", "plugin", "agent_id")
            if isinstance(value := getattr(agent, name, None), str) and value
        ),
        None,
    )
    return f"{agent.backend}:{detail}" if detail else agent.backend
