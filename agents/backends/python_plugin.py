"""The python backend: a user callable registered under the `acc.agents` entry point group.

A plugin is an async (or plain) callable taking a `PluginCall` and returning a `PluginReply`
(or a plain string). Register it in your package's pyproject.toml:

    [project.entry-points."acc.agents"]
    summarize = "my_package.agents:summarize"

and use it in a spec as `agent: {backend: python, plugin: summarize, params: {...}}`.
Plugins are loaded once per worker; a missing plugin is a non-retryable error naming it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from temporalio.exceptions import ApplicationError

from agents.base import AgentContext, AgentOutcome
from core.contracts import Usage
from core.specs import PythonAgent

GROUP = "acc.agents"


class PluginCall(BaseModel):
    """What a plugin gets."""

    input: str
    params: dict[str, Any] = Field(default_factory=dict)
    run_id: str
    step: str
    workdir: Path


class PluginReply(BaseModel):
    """What a plugin returns (a plain string is taken as `output`)."""

    output: str
    usage: Usage = Field(default_factory=Usage)
    error: str | None = None


class PythonBackend:
    def __init__(self, plugins: dict[str, Callable[..., Any]] | None = None) -> None:
        self._plugins = plugins

    def plugins(self) -> dict[str, Callable[..., Any]]:
        if self._plugins is None:
            self._plugins = {ep.name: ep.load() for ep in entry_points(group=GROUP)}
        return self._plugins

    async def run(self, ctx: AgentContext) -> AgentOutcome:
        agent = ctx.task.agent
        assert isinstance(agent, PythonAgent)
        plugin = self.plugins().get(agent.plugin)
        if plugin is None:
            known = ", ".join(sorted(self.plugins())) or "none"
            raise ApplicationError(
                f"python plugin {agent.plugin!r} is not installed (entry point group "
                f"{GROUP!r}; installed: {known})",
                type="PluginMissing",
                non_retryable=True,
            )
        call = PluginCall(
            input=ctx.input_text,
            params=agent.params,
            run_id=ctx.task.run_id,
            step=ctx.task.step_name,
            workdir=ctx.workdir,
        )
        ctx.workdir.mkdir(parents=True, exist_ok=True)
        reply = plugin(call)
        if inspect.isawaitable(reply):
            reply = await reply
        if isinstance(reply, str):
            reply = PluginReply(output=reply)
        reply = PluginReply.model_validate(reply)
        return AgentOutcome(text=reply.output, usage=reply.usage, error=reply.error)
