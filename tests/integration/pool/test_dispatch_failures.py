"""Dispatches that go wrong: a remote agent that keeps failing opens its circuit breaker
(the pool records each remote agent's outcomes on the same breakers as local agents,
agents/breakers.py) and the dispatcher routes around it; a step no agent can take within
the dispatch wait fails saying so, its dispatch on the dead-letter topic."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from agents.breakers import BreakerConfig, CircuitBreakers
from agents.router import remote_agent_breaker
from core import redis as redis_client
from core.bus import build_consumer
from core.events import Event
from core.settings import Settings
from tests.conftest import running_workers
from tests.integration.pool.test_dispatch import _settings_and_token, _start
from tests.support.pool import connected, run_events, running_node, shell_agent
from tests.support.servers import free_port

pytestmark = pytest.mark.integration


async def test_a_failing_remote_agent_opens_its_breaker_and_is_routed_around(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings]
) -> None:
    settings, token = await _settings_and_token(temporal_env, make_settings)
    settings = settings.model_copy(
        update={"POOL_PORT": free_port(), "BREAKER_FAILURE_THRESHOLD": 1}
    )
    capability = f"echo-{uuid.uuid4().hex[:6]}"
    step: dict[str, Any] = {
        "name": "say",
        "agent": {"backend": "remote", "capability": capability},
        "retry": {"max_attempts": 3, "initial_interval_seconds": 0.2},
    }
    spec = {"name": "breakers", "steps": [step]}
    async with running_node(settings, temporal_env.client) as node:
        # Both idle: the dispatcher picks by name on a tie, so the broken one is offered first.
        broken = shell_agent(settings, [node.url], token, "a-broken", [capability], command="false")
        good = shell_agent(settings, [node.url], token, "b-good", [capability], command="echo ok")
        async with connected(broken, good), running_workers(temporal_env.client, settings):
            first = await _start(temporal_env, settings, spec)
            first_state = await first.result()
            second = await _start(temporal_env, settings, spec)  # the breaker is open: b-good
            second_state = await second.result()
            first_events = await run_events(settings, first.id)
            second_events = await run_events(settings, second.id)
    redis = redis_client.connect(settings)
    try:
        breakers = CircuitBreakers(
            redis, BreakerConfig.from_settings(settings), prefix=settings.REDIS_PREFIX
        )
        broken_status = await breakers.get(
            remote_agent_breaker(settings.TENANT, "a-broken")
        ).state()
        good_status = await breakers.get(remote_agent_breaker(settings.TENANT, "b-good")).state()
    finally:
        await redis.aclose()

    assert first_state.status == "completed" and second_state.status == "completed"
    assert [s.result.output.text.strip() for s in second_state.steps if s.result] == ["ok"]
    pool = [e for e in first_events if e.source.startswith("pool/")]
    failed = [e.data["agent"] for e in pool if e.type == "step.failed"]
    completed = [e.data["agent"] for e in pool if e.type == "step.completed"]
    assert failed == ["a-broken"] and completed == ["b-good"]
    changed = [e.data for e in first_events if e.type == "breaker.changed"]
    assert [(c["key"], c["state"]) for c in changed] == [
        (remote_agent_breaker(settings.TENANT, "a-broken"), "open")
    ]
    # The second run went straight to the healthy agent: the broken one was never offered.
    assert not [e for e in second_events if e.type == "step.failed"]
    assert [e.data["agent"] for e in second_events if e.type == "step.completed"] == ["b-good"]
    assert broken_status.state == "open" and good_status.state == "closed"


async def test_a_step_no_agent_can_take_fails_and_goes_to_the_dead_letter_topic(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings]
) -> None:
    settings, _ = await _settings_and_token(temporal_env, make_settings)
    settings = settings.model_copy(
        update={"POOL_DISPATCH_WAIT_SECONDS": 1.5, "DEAD_LETTER_TOPIC": f"dlq-{uuid.uuid4().hex}"}
    )
    capability = f"nobody-{uuid.uuid4().hex[:6]}"
    spec = {
        "name": "no-agent",
        "steps": [{"name": "orphan", "agent": {"backend": "remote", "capability": capability}}],
    }
    async with running_workers(temporal_env.client, settings):
        handle = await _start(temporal_env, settings, spec)
        started = time.monotonic()
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(handle.result(), 60)
        took = time.monotonic() - started
    consumer = build_consumer(settings.kafka_bootstrap, settings.DEAD_LETTER_TOPIC, group_id=None)
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=5000)
    finally:
        await consumer.stop()
    letters = [Event.decode(r.value or b"") for records in batch.values() for r in records]

    cause = str(failed.value.cause)
    assert "no remote agent could take the step" in cause
    assert f"acc agent connect -c {capability}" in cause and "1.5 s" in cause
    assert took < 30  # one wait, not a retry loop
    [letter] = letters
    assert letter.type == "dispatch.failed" and letter.run_id == handle.id
    assert letter.step == "orphan" and letter.tenant == settings.TENANT
    assert letter.data["capability"] == capability
    assert letter.data["reason"] == "no agent connected"
