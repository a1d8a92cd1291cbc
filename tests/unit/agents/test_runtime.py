"""What the runtime and the remote backend decide before any shared state is touched: the
Redis client here points at a closed port, so a test that reached Redis would fail. The
Redis-backed guards are tested in tests/integration/agents/test_runtime.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from temporalio.exceptions import ApplicationError

from agents.backends.remote import RemoteBackend
from agents.base import AgentContext, AgentOutcome
from agents.runtime import AgentRuntime
from core.contracts import AgentTask, Output
from core.settings import load_settings

pytestmark = pytest.mark.unit

NOWHERE = "redis://127.0.0.1:9/0"  # the discard port: nothing answers


def context(agent: dict[str, Any], input_text: str = "", token: bytes = b"") -> AgentContext:
    task = AgentTask.model_validate(
        {
            "run_id": "run-1",
            "tenant": "t1",
            "step_index": 3,
            "step_name": "s",
            "agent": agent,
            "template": "{{input}} and more",
            "input": {"text": "x"},
        }
    )
    return AgentContext(task, input_text, Path("."), lambda *_: None, _emit, task_token=token)


async def _emit(kind: str, data: dict[str, Any]) -> None:
    raise AssertionError(f"nothing is emitted here, got {kind}")


class Pool:
    def __init__(self) -> None:
        self.calls: list[tuple[str | None, str | None, AgentTask, bytes]] = []

    async def dispatch(
        self, agent_id: str | None, capability: str | None, task: AgentTask, task_token: bytes
    ) -> None:
        self.calls.append((agent_id, capability, task, task_token))


class Unused:
    async def run(self, ctx: AgentContext) -> AgentOutcome:
        raise AssertionError("the backend must not be called")


async def test_a_remote_step_without_a_pool_fails_for_good_saying_so() -> None:
    ctx = context({"backend": "remote", "capability": "code"})
    with pytest.raises(ApplicationError) as caught:
        await RemoteBackend().run(ctx)
    assert caught.value.type == "RemoteUnavailable" and caught.value.non_retryable
    assert "no WebSocket pool is connected" in caught.value.message


async def test_a_remote_step_is_dispatched_with_its_token_and_handed_off() -> None:
    pool = Pool()
    agent = {"backend": "remote", "agent_id": "laptop-1", "prompt": "go"}
    outcome = await RemoteBackend(pool).run(context(agent, "resolved input", b"token-1"))
    assert outcome.handed_off  # run_agent then completes the activity asynchronously
    [(agent_id, capability, task, token)] = pool.calls
    assert (agent_id, capability, token) == ("laptop-1", None, b"token-1")
    # The agent gets the input resolved, not a template over outputs it cannot read.
    assert task.input == Output.of("resolved input") and task.template is None
    assert task.agent.backend == "remote" and task.agent.prompt == "go"


async def test_a_routed_step_with_no_agents_declared_fails_for_good() -> None:
    runtime = AgentRuntime(load_settings(), Redis.from_url(NOWHERE), {"shell": Unused()})
    with pytest.raises(ApplicationError) as caught:
        await runtime.run(context({"backend": "routed", "capability": "code"}), _publish)
    assert caught.value.type == "NoAgentsDeclared" and caught.value.non_retryable
    assert "ACC_AGENTS_FILE" in caught.value.message


async def test_a_backend_missing_on_the_worker_fails_for_good() -> None:
    runtime = AgentRuntime(load_settings(), Redis.from_url(NOWHERE), {})
    with pytest.raises(ApplicationError) as caught:
        await runtime.run(context({"backend": "shell", "command": "echo"}), _publish)
    assert caught.value.type == "BackendUnavailable" and caught.value.non_retryable


def test_an_unknown_rate_limit_is_refused_at_start() -> None:
    settings = load_settings(RATE_LIMITS={"openai": {"rpm": 10}})
    with pytest.raises(ValueError, match=r"ACC_RATE_LIMITS\['openai'\] has unknown limits"):
        AgentRuntime(settings, Redis.from_url(NOWHERE), {})


async def _publish(event: object) -> None:
    raise AssertionError(f"nothing is published here, got {event}")
