"""What every coordination pattern shares: live state, agent steps, budgets, approvals,
fork reuse and the run's end.

A pattern workflow subclasses `PatternWorkflow` and implements `body()`, calling
`self.agent_step(...)` (an activity) or `self.child_step(...)` (a child workflow) for each
unit of work. Every such call gets the next index in the run's timeline, in the order the
workflow schedules them - deterministic, so the same index names the same step on replay
and in a fork, which reuses the recorded results of the indexes before the fork point.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, Literal, NoReturn

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError
from temporalio.exceptions import is_cancelled_exception as is_cancelled

with workflow.unsafe.imports_passed_through():
    from core.contracts import (
        FAN_OUT_BATCH_WORKFLOW,
        PUBLISH_RUN_EVENT,
        AgentResult,
        AgentTask,
        BatchInput,
        BatchJob,
        BatchResult,
        Carried,
        Decision,
        Output,
        RunEvent,
        RunInput,
        RunState,
        StepState,
        Waiting,
    )
    from core.specs import StepSpec
    from core.temporal import PATTERN, QUALITY, STATUS
    from workflows import steps

EVENT_TIMEOUT = timedelta(seconds=10)
RECENT_STEPS = 100  # steps whose whole inline output the run's state keeps
NOTES_CARRIED = 200  # notes a run carries into its next history
PREVIEW_CHARS = 200


class PatternWorkflow:
    """Base of the pattern workflows. Subclasses define `@workflow.run` and `body()`."""

    def __init__(self) -> None:
        self._inp: RunInput | None = None
        self._state: RunState | None = None
        self._decision: Decision | None = None
        self._waiting_lock = asyncio.Lock()
        self._outputs: dict[str, Output] = {}
        self._budget_waived = False
        self._reserved = 0  # timeline indexes taken by the jobs of fan-out batches
        self.quality: float | None = None  # set by patterns that have a quality gate

    # -- queries and updates ---------------------------------------------------------

    @workflow.query
    def state(self) -> RunState:
        if self._state is None:
            raise ApplicationError("run has not started yet", type="NotStarted")
        return self._state

    @workflow.update
    async def decide(self, decision: Decision) -> RunState:
        """Approve or reject what the run is waiting for; answers once the run has acted on
        it (no longer waiting, with the decision in its notes)."""
        self._decision = decision
        # Runs started before this behaviour answered at once; keep replaying them that way.
        # Acted on: the question is settled, or the next one (another step asking, taken
        # up in the same instant) has already replaced this decision.
        if workflow.patched("decide-answers-after-effect"):
            await workflow.wait_condition(
                lambda: self.run_state.waiting is None or self._decision is not decision
            )
        return self.state()

    @decide.validator
    def _check_decide(self, decision: Decision) -> None:
        if self._state is None or self._state.waiting is None:
            raise ApplicationError("the run is not waiting for a decision", type="NotWaiting")
        group = self._state.waiting.group
        if group is not None and group not in decision.groups:
            raise ApplicationError(
                f"only a member of group {group!r} may decide this; {decision.by} is not",
                type="NotInGroup",
            )

    # -- the run ------------------------------------------------------------------------

    @property
    def inp(self) -> RunInput:
        assert self._inp is not None
        return self._inp

    @property
    def run_state(self) -> RunState:
        assert self._state is not None
        return self._state

    async def body(self) -> Output:
        raise NotImplementedError

    async def execute(self, inp: RunInput) -> RunState:
        self._inp = inp
        carried = inp.carried or Carried()
        spec = inp.spec
        state = self._state = RunState(
            run_id=inp.run_id,
            name=spec.name,
            pattern=spec.pattern,
            tenant=inp.tenant,
            started_at=carried.started_at or workflow.now(),
            usage=carried.usage,
            parent_run_id=inp.parent_run_id,
            events_handled=carried.events_handled,
            notes=list(carried.notes),
        )
        try:
            output = await self.body()
        except asyncio.CancelledError:
            await self._end("cancelled")
            raise
        except ApplicationError as err:
            state.error = err.message
            await self._end("failed")
            raise
        state.output = output
        await self._end("completed")
        return state

    async def _end(self, status: Literal["completed", "failed", "cancelled"]) -> None:
        # Let an in-flight `decide` (e.g. the rejection that ends the run) answer first.
        await workflow.wait_condition(workflow.all_handlers_finished)
        state = self.run_state
        state.status = status
        state.ended_at, state.current_step, state.waiting = workflow.now(), None, None
        state.quality = self.quality if self.quality is not None else self._completion_share()
        self._show_progress()
        if _searchable():
            workflow.upsert_search_attributes([QUALITY.value_set(state.quality)])
        duration = (state.ended_at - state.started_at) if state.started_at else None
        await self._publish(
            f"run.{status}",
            error=state.error,
            quality=state.quality,
            duration_ms=duration.total_seconds() * 1000 if duration is not None else None,
            usage=state.usage,
        )

    async def _publish(self, kind: str, **fields: object) -> None:
        """A run-level event, from a local activity (workflow code does no I/O)."""
        state = self.run_state
        event = RunEvent.model_validate(
            {
                "run_id": state.run_id,
                "tenant": state.tenant,
                "type": kind,
                "pattern": state.pattern,
                "name": state.name,
                **fields,
            }
        )
        await workflow.execute_local_activity(
            PUBLISH_RUN_EVENT,
            event,
            start_to_close_timeout=EVENT_TIMEOUT,
            retry_policy=RetryPolicy(maximum_attempts=3),
        )

    def _completion_share(self) -> float:
        steps = self.run_state.steps
        if not steps:
            return 1.0 if self.run_state.status == "completed" else 0.0
        return round(sum(s.status == "completed" for s in steps) / len(steps), 4)

    def history_full(self) -> bool:
        """Whether to continue as new now: Temporal suggests it, or the history has
        `history_events` events (long runs stay far from Temporal's history limits)."""
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self.inp.history_events
        )

    async def continue_as_new(self, **carry: Any) -> NoReturn:
        """Start this run's next history with its state: timeline indexes, usage, notes and
        the pattern's own `carry` (Carried fields). The run id and its API stay the same."""
        await workflow.wait_condition(workflow.all_handlers_finished)
        inp, state = self.inp, self.run_state
        before = (inp.carried.steps_before if inp.carried else 0) + len(state.steps)
        before += self._reserved
        carried = Carried(
            steps_before=before,
            usage=state.usage,
            started_at=state.started_at,
            events_handled=state.events_handled,
            notes=state.notes[-NOTES_CARRIED:],
            **carry,
        )
        later = {  # a fork's reuse and edits of steps still to come
            "recorded": {i: r for i, r in inp.recorded.items() if i >= before},
            "edited_inputs": {i: t for i, t in inp.edited_inputs.items() if i >= before},
        }
        workflow.continue_as_new(inp.model_copy(update={"carried": carried, **later}))

    def _compact(self) -> None:
        """Keep the run's state (its query answer and result) bounded however many steps it
        has: steps before the last RECENT_STEPS keep a preview of their output, not all of
        it (the history and the artifact store keep everything; the timeline shows it)."""
        steps = self.run_state.steps
        if len(steps) > RECENT_STEPS:
            old = steps[-RECENT_STEPS - 1]
            if old.result is not None and len(old.result.output.text) > PREVIEW_CHARS:
                output = old.result.output
                old.result.output = output.model_copy(
                    update={"text": output.text[:PREVIEW_CHARS], "truncated": True}
                )
                old.result.stderr = old.result.stderr[-PREVIEW_CHARS:]

    def _show_progress(self) -> None:
        """The run's current details in the Temporal Web UI: what runs or waits now."""
        state = self.run_state
        done = sum(s.status == "completed" for s in state.steps)
        lines = [
            f"**{state.status}** · {done} of {len(state.steps) + len(state.pending)} steps done"
        ]
        if state.waiting is not None:
            subject = f"`{state.waiting.step}`" if state.waiting.step else "the run"
            lines.append(f"waiting for {state.waiting.kind} of {subject}: {state.waiting.reason}")
        running = [f"`{s.name}` (#{s.index})" for s in state.steps if s.status == "running"]
        if running:
            more = f" and {len(running) - 5} more" if len(running) > 5 else ""
            lines.append("running " + ", ".join(running[:5]) + more)
        workflow.set_current_details("\n\n".join(lines))

    def note(self, text: str) -> None:
        self.run_state.notes.append(text)

    # -- steps --------------------------------------------------------------------------

    def _begin_step(
        self, name: str, group: str | None, kind: Literal["agent", "child"] = "agent"
    ) -> StepState:
        state = self.run_state
        carried = self.inp.carried
        index = len(state.steps) + self._reserved + (carried.steps_before if carried else 0)
        record = StepState(
            index=index,
            name=name,
            group=group,
            kind=kind,
            status="running",
            started_at=workflow.now(),
        )
        state.steps.append(record)
        state.current_step = index
        if name in state.pending:
            state.pending.remove(name)
        self._show_progress()
        return record

    def _task(self, record: StepState, step: StepSpec, given: Output) -> AgentTask:
        inp = self.inp
        template = step.input
        context: dict[str, Output] = {}
        if record.index in inp.edited_inputs:
            given, template = Output.of(inp.edited_inputs[record.index]), None
        elif template is not None:
            outputs = {"input": given, "run.input": Output.of(inp.spec.input)}
            outputs |= {f"steps.{name}.output": out for name, out in self._outputs.items()}
            context = steps.template_context(record.name, template, outputs)
        return AgentTask(
            run_id=inp.run_id,
            tenant=inp.tenant,
            step_index=record.index,
            step_name=record.name,
            group=record.group,
            agent=step.agent,
            input=given,
            template=template,
            context=context,
            timeout_seconds=step.timeout_seconds,
            retry=step.retry,
            idempotent=step.idempotent,
        )

    async def agent_step(
        self,
        step: StepSpec,
        given: Output | None = None,
        *,
        group: str | None = None,
        name: str | None = None,
    ) -> AgentResult:
        """Run one agent step as an activity (or reuse its recorded result in a fork)."""
        return await self._step(step, given or Output(), group, name, "agent")

    async def child_step(
        self, step: StepSpec, given: Output, *, group: str | None = None, name: str | None = None
    ) -> AgentResult:
        """Run one agent step in its own child workflow (dynamically spawned workers)."""
        return await self._step(step, given, group, name, "child")

    async def batch_step(
        self, number: int, jobs: list[tuple[StepSpec, int, str]], max_concurrency: int
    ) -> BatchResult:
        """Run a share of a large fan-out in a FanOutBatchWorkflow child. The batch is one
        step of the run; its jobs take the timeline indexes that follow its own."""
        record = self._begin_step(f"batch-{number}", f"batch-{number}", "child")
        self._reserved += len(jobs)
        inp = self.inp
        unique: list[StepSpec] = []
        for step, _, _ in jobs:
            if step not in unique:
                unique.append(step)
        batch = BatchInput(
            run_id=inp.run_id,
            tenant=inp.tenant,
            run_input=inp.spec.input,
            agents_queue=inp.agents_queue,
            first_index=record.index + 1,
            steps=unique,
            jobs=[BatchJob(step=unique.index(s), task=t, task_index=n) for s, n, t in jobs],
            max_concurrency=max_concurrency,
        )
        record.child_id = f"{inp.run_id}.batch-{number}"
        try:
            await self.check_budget()
            result: BatchResult = await workflow.execute_child_workflow(
                FAN_OUT_BATCH_WORKFLOW,
                batch,
                result_type=BatchResult,
                id=record.child_id,
                task_queue=workflow.info().task_queue,
                static_summary=f"batch {number}: {len(jobs)} jobs",
            )
        except BaseException as err:
            failure = self._failed(record, err)
            self._show_progress()
            raise failure from None
        summary = f"{len(jobs)} jobs: {result.succeeded} succeeded, {result.failed} failed"
        output = Output(text=summary, artifact_id=result.results, size=len(summary))
        await self._completed(record, AgentResult(output=output, usage=result.usage))
        return result

    async def _step(
        self,
        step: StepSpec,
        given: Output,
        group: str | None,
        name: str | None,
        kind: Literal["agent", "child"],
    ) -> AgentResult:
        record = self._begin_step(name or step.name, group, kind)
        try:
            if step.approval is not None:
                approval = step.approval
                await self.wait_for_decision(
                    "approval",
                    record.name,
                    approval.reason,
                    approval.timeout_seconds,
                    approval.group,
                )
            await self.check_budget()
            task = self._task(record, step, given)
            result = self.inp.recorded.get(record.index)
            if result is not None:
                record.reused = True
            elif kind == "child":
                record.child_id = f"{self.inp.run_id}.step-{record.index}"
                result = await steps.run_child(task, step, self.inp.agents_queue, record.child_id)
            else:
                result = await steps.run_agent(task, step, self.inp.agents_queue)
        except BaseException as err:
            failure = self._failed(record, err)
            self._show_progress()
            raise failure from None
        return await self._completed(record, result)

    def _failed(self, record: StepState, err: BaseException) -> BaseException:
        record.ended_at = workflow.now()
        if is_cancelled(err):
            record.status = "cancelled"
            return asyncio.CancelledError()
        if isinstance(err, ApplicationError):  # the run's own rule: budget, rejection, template
            record.status, record.error = "failed", err.message
            return err
        if not isinstance(err, ActivityError | ChildWorkflowError):
            return err
        record.status, record.error = "failed", steps.reason(err)
        return ApplicationError(
            f"step {record.name!r} failed: {record.error}", type="StepFailed", non_retryable=True
        )

    async def _completed(self, record: StepState, result: AgentResult) -> AgentResult:
        record.status, record.ended_at, record.result = "completed", workflow.now(), result
        self._outputs[record.name] = result.output
        self.run_state.usage += result.usage
        self._compact()
        self._show_progress()
        await self.check_budget()
        return result

    # -- budgets and approvals --------------------------------------------------------

    def _over_budget(self) -> str | None:
        budget, usage = self.inp.spec.budget, self.run_state.usage
        if budget.max_tokens is not None and usage.tokens >= budget.max_tokens:
            return f"{usage.tokens} tokens used of a budget of {budget.max_tokens}"
        if budget.max_cost_usd is not None and usage.cost_usd >= budget.max_cost_usd:
            return f"${usage.cost_usd:.4f} spent of a budget of ${budget.max_cost_usd}"
        started = self.run_state.started_at or workflow.now()
        elapsed = (workflow.now() - started).total_seconds()
        if budget.max_wall_seconds is not None and elapsed >= budget.max_wall_seconds:
            return f"{elapsed:.0f}s elapsed of a budget of {budget.max_wall_seconds:g}s"
        return None

    async def check_budget(self) -> None:
        reason = None if self._budget_waived else self._over_budget()
        if reason is None:
            return
        if self.inp.spec.budget.on_exceed == "fail":
            raise ApplicationError(
                f"budget exceeded: {reason}", type="BudgetExceeded", non_retryable=True
            )
        await self.wait_for_decision("budget", None, f"budget exceeded: {reason}", None)
        self._budget_waived = True
        self.note(f"budget exceeded ({reason}); approved to continue")

    async def wait_for_decision(
        self,
        kind: Literal["approval", "budget"],
        step: str | None,
        reason: str,
        timeout: float | None,
        group: str | None = None,
    ) -> None:
        """Pause until `decide` is called; a rejection (or the timeout) fails the run."""
        state = self.run_state
        async with self._waiting_lock:  # one question at a time
            self._decision = None
            state.waiting = Waiting(
                kind=kind, step=step, reason=reason, since=workflow.now(), group=group
            )
            self._show_progress()
            # Tell whoever watches the bus that a person must act (runs recorded before this
            # event existed replay without it).
            if workflow.patched("announce-waiting"):
                await self._publish("run.waiting", waiting=state.waiting)
            # Lists find waiting runs by AccStatus (runs recorded before it replay without).
            searchable = workflow.patched("status-search-attribute") and _searchable()
            if searchable:
                workflow.upsert_search_attributes([STATUS.value_set("waiting")])
            try:
                await workflow.wait_condition(
                    lambda: self._decision is not None,
                    timeout=timedelta(seconds=timeout) if timeout else None,
                )
            except TimeoutError:
                self._decision = Decision(approve=False, comment="timed out", by="acc")
            finally:
                state.waiting = None
                self._show_progress()
                if searchable:
                    workflow.upsert_search_attributes([STATUS.value_set("running")])
            decision = self._decision
            assert decision is not None
            verdict = "approved" if decision.approve else "rejected"
            self.note(
                f"{kind} for {step or 'the run'} {verdict} by {decision.by}"
                + (f": {decision.comment}" if decision.comment else "")
            )
            if not decision.approve:
                raise ApplicationError(
                    f"{kind} rejected by {decision.by}"
                    + (f": {decision.comment}" if decision.comment else ""),
                    type="Rejected",
                    non_retryable=True,
                )


def _searchable() -> bool:
    """Whether the run carries acc's search attributes (registered where acc starts runs;
    not so in bare-SDK tests), so upserting them cannot fail the workflow task."""
    return workflow.info().typed_search_attributes.get(PATTERN) is not None
