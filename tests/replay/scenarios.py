"""One scenario per pattern (and per feature with its own history shape: approvals,
budgets, forks, continue-as-new), driven through the Temporal client. `record.py` runs them
and saves their histories; `test_replay.py` replays the saved histories against the code."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle

from core.contracts import WORKFLOW_OF_PATTERN, Decision, ExternalEvent, RunInput
from core.settings import Settings
from core.specs import parse_spec


def py(code: str) -> dict[str, Any]:
    return {"backend": "shell", "command": ["python3", "-c", code]}


def echo(text: str) -> dict[str, Any]:
    return {"backend": "shell", "command": ["echo", text]}


FALSE = {"backend": "shell", "command": ["false"]}
VOTE_B = (
    "import json, sys; b = json.load(sys.stdin); "
    "print(next(p['id'] for p in b['proposals'] if p['text'] == 'B'))"
)
MANAGER = (
    "import json, sys; extra = 'feedback' in sys.stdin.read(); "
    "tasks = ['code it', 'test it'] + (['polish it'] if extra else []); "
    "print(json.dumps({'subtasks': tasks}))"
)
REVIEWER = "import sys; print(0.9 if 'POLISH' in sys.stdin.read() else 0.2)"

SPECS: dict[str, dict[str, Any]] = {
    "pipeline": {
        "name": "pipeline",
        "input": "hi",
        "steps": [
            {"name": "a", "agent": {"backend": "shell", "command": "tr a-z A-Z"}},
            {"name": "b", "agent": echo("done"), "input": "{{steps.a.output}}"},
        ],
    },
    "pipeline-failed": {
        "name": "pipeline-failed",
        "steps": [{"name": "a", "agent": echo("x")}, {"name": "b", "agent": FALSE}],
    },
    "scatter-gather": {
        "name": "scatter",
        "pattern": "scatter-gather",
        "reducer": "majority",
        "tasks": ["t1", "t2"],
        "max_concurrency": 2,
        "agents": [{"name": "a1", "agent": echo("yes")}, {"name": "a2", "agent": echo("no")}],
    },
    "consensus": {
        "name": "consensus",
        "pattern": "consensus",
        "participants": [
            {
                "name": n,
                "propose": {"name": "p", "agent": echo(t)},
                "vote": {"name": "v", "agent": py(VOTE_B)},
            }
            for n, t in (("x", "A"), ("y", "B"))
        ],
    },
    "saga": {
        "name": "saga",
        "pattern": "saga",
        "steps": [
            {"name": "a", "agent": echo("1"), "compensate": {"name": "undo-a", "agent": echo("u")}},
            {"name": "b", "agent": FALSE},
        ],
    },
    "supervisor": {
        "name": "supervisor",
        "pattern": "supervisor",
        "manager": {"name": "m", "agent": py(MANAGER)},
        "workers": {
            "default": {"name": "w", "agent": {"backend": "shell", "command": "tr a-z A-Z"}}
        },
        "reviewer": {"name": "r", "agent": py(REVIEWER)},
    },
    "approval": {
        "name": "approval",
        "budget": {"max_tokens": 1000},
        "steps": [{"name": "a", "agent": echo("a"), "approval": {"reason": "check"}}],
    },
    "event-driven": {
        "name": "events",
        "pattern": "event-driven",
        "events_per_history": 2,
        "handlers": [
            {"on": "*", "step": {"name": "h", "agent": {"backend": "shell", "command": "cat"}}}
        ],
    },
}


async def start(
    client: Client, settings: Settings, key: str, **extra: Any
) -> WorkflowHandle[Any, Any]:
    spec = parse_spec(SPECS[key])
    run_id = f"replay-{key}-{uuid.uuid4().hex[:6]}"
    inp = RunInput(
        run_id=run_id, tenant="replay", spec=spec, agents_queue=settings.agents_queue, **extra
    )
    return await client.start_workflow(
        WORKFLOW_OF_PATTERN[spec.pattern],
        inp,
        id=run_id,
        task_queue=settings.ORCHESTRATION_QUEUE,
    )


async def finish(handle: WorkflowHandle[Any, Any]) -> None:
    with contextlib.suppress(WorkflowFailureError):  # failed runs are scenarios too
        await handle.result()


async def simple(client: Client, settings: Settings, key: str) -> list[WorkflowHandle[Any, Any]]:
    handle = await start(client, settings, key)
    await finish(handle)
    return [handle]


async def approval(client: Client, settings: Settings, _: str) -> list[WorkflowHandle[Any, Any]]:
    handle = await start(client, settings, "approval")
    for _ in range(200):
        state = await handle.query("state")
        if state.get("waiting") if isinstance(state, dict) else state.waiting:
            break
        await asyncio.sleep(0.05)
    await handle.execute_update("decide", Decision(approve=True, by="replay"))
    await finish(handle)
    return [handle]


async def fork(client: Client, settings: Settings, _: str) -> list[WorkflowHandle[Any, Any]]:
    from core.history import parse

    parent = await start(client, settings, "pipeline")
    await finish(parent)
    parsed = parse(await parent.fetch_history())
    child = await start(
        client,
        settings,
        "pipeline",
        recorded={0: parsed.results[0]},
        edited_inputs={1: "edited"},
        parent_run_id=parent.id,
    )
    await finish(child)
    return [child]


async def events(client: Client, settings: Settings, _: str) -> list[WorkflowHandle[Any, Any]]:
    handle = await start(client, settings, "event-driven")
    for n in range(3):
        await handle.signal(
            "event", ExternalEvent(id=f"e{n}", type="push", data={"n": json.dumps(n)})
        )
    await asyncio.sleep(2)
    await handle.signal("event", ExternalEvent(id="stop", type="stop"))
    await finish(handle)
    return [handle]


Scenario = Callable[[Client, Settings, str], Awaitable[list[WorkflowHandle[Any, Any]]]]
SCENARIOS: dict[str, Scenario] = {
    "pipeline": simple,
    "pipeline-failed": simple,
    "scatter-gather": simple,
    "consensus": simple,
    "saga": simple,
    "supervisor": simple,
    "approval": approval,
    "fork": fork,
    "event-driven": events,
}
