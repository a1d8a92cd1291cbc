"""The agents file (ACC_AGENTS_FILE): the agents routed steps choose from, and how.

YAML or JSON; every field but `agents[].name` and `agents[].agent` has a default:

    agents:
      - name: coder                       # the agent's name: breakers, leases, affinity
        capabilities: {code: 0.9, review: 0.6}   # skill 0..1 per capability
        capacity: 2                       # tasks it runs at once, across all workers
        tags: [cheap]
        agent: {backend: llm, model: gpt-4o, prompt: "Write the code."}
    rules:                                # agents.router.RoutingRule
      - {name: no-cheap-reviews, capability: review, action: exclude, agent_tags: [cheap]}
    experiments:                          # agents.router.Experiment
      - {name: ab, variants: [{name: a, weight: 1, strategy: balanced},
                              {name: b, weight: 1, strategy: skill}]}
    strategy: balanced                    # balanced | skill | least_loaded
    fallback_agent: coder                 # when no agent with the capability is free

A bare list is read as `agents`. `agent` is any agent spec but `routed`. Unknown fields,
duplicate names, a rule or fallback naming an undeclared agent are errors that name the
file and the field; agents that register at run time are targeted by `agent_tags`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from agents.router import (
    AgentProfile,
    Experiment,
    Registry,
    Router,
    RoutingRule,
    Skill,
    Strategy,
)
from core.errors import AccError
from core.specs import (
    NAME_PATTERN,
    ClaudeCodeAgent,
    LlmAgent,
    PythonAgent,
    RemoteAgent,
    ShellAgent,
    Strict,
)

DeclaredSpec = Annotated[
    ShellAgent | LlmAgent | ClaudeCodeAgent | PythonAgent | RemoteAgent,
    Field(discriminator="backend"),
]
BACKENDS = ("shell", "llm", "claude_code", "python", "remote")


class AgentsFileError(AccError):
    """The agents file is missing, unreadable or invalid; `details` lists each field."""

    type = "invalid_agents_file"


class DeclaredAgent(Strict):
    """A named role: what it can do, how well, how much at once, and the spec that runs it."""

    name: str = Field(pattern=NAME_PATTERN)
    capabilities: dict[str, Skill] = Field(default_factory=dict, description="Skill 0..1")
    capacity: int = Field(1, ge=1, description="Tasks it runs at once, across all workers")
    tags: frozenset[str] = Field(frozenset(), strict=False)  # a list in the file
    enabled: bool = True
    agent: DeclaredSpec

    @field_validator("agent", mode="before")
    @classmethod
    def _not_routed(cls, value: object) -> object:
        if isinstance(value, dict) and value.get("backend") == "routed":
            raise ValueError(f"an agent cannot be routed itself; backend must be one of {BACKENDS}")
        return value

    def profile(self) -> AgentProfile:
        return AgentProfile(
            name=self.name,
            backend=self.agent.backend,
            capabilities=self.capabilities,
            capacity=self.capacity,
            tags=self.tags,
            enabled=self.enabled,
        )


class AgentsConfig(Strict):
    agents: list[DeclaredAgent] = Field(default_factory=list)
    rules: list[RoutingRule] = Field(default_factory=list)
    experiments: list[Experiment] = Field(default_factory=list)
    strategy: Strategy = "balanced"
    fallback_agent: str | None = None
    _by_name: dict[str, DeclaredAgent] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> AgentsConfig:
        for what, names in (
            ("agent", [a.name for a in self.agents]),
            ("rule", [r.name for r in self.rules]),
            ("experiment", [e.name for e in self.experiments]),
        ):
            if duplicates := sorted({n for n in names if names.count(n) > 1}):
                raise ValueError(f"{what} names used twice: {', '.join(duplicates)}")
        declared = {agent.name for agent in self.agents}
        if self.fallback_agent is not None and self.fallback_agent not in declared:
            raise ValueError(f"fallback_agent {self.fallback_agent!r} is not a declared agent")
        for rule in self.rules:
            if unknown := sorted(rule.agents - declared):
                raise ValueError(f"rule {rule.name!r} names undeclared agents: {unknown}")
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._by_name = {agent.name: agent for agent in self.agents}

    def declared(self, name: str) -> DeclaredAgent | None:
        return self._by_name.get(name)

    def registry(self) -> Registry:
        return Registry(agent.profile() for agent in self.agents)

    def router(self) -> Router:
        return Router(
            self.registry(),
            self.rules,
            self.experiments,
            strategy=self.strategy,
            fallback_agent=self.fallback_agent,
        )


def load_agents(path: Path | None) -> AgentsConfig:
    """Read and validate the agents file; no file configured (None) declares no agents."""
    if path is None:
        return AgentsConfig()
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise AgentsFileError(f"agents file {path} (ACC_AGENTS_FILE) not found") from None
    except OSError as exc:
        raise AgentsFileError(f"cannot read agents file {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise AgentsFileError(f"agents file {path} is not valid YAML or JSON: {exc}") from None
    raw = {"agents": raw} if isinstance(raw, list) else ({} if raw is None else raw)
    try:
        return AgentsConfig.model_validate(raw)
    except ValidationError as exc:
        problems = [
            {"field": _field(tuple(err["loc"]), err["type"], raw), "message": err["msg"]}
            for err in exc.errors()
        ]
        listed = "\n".join(f"  {p['field']}: {p['message']}" for p in problems)
        raise AgentsFileError(f"agents file {path} is invalid:\n{listed}", problems) from None


def _field(loc: tuple[Any, ...], kind: str, raw: object) -> str:
    """("agents", 0, "agent", "shell", "command") -> "agents[0].agent.command (agent 'x')"."""
    out = ""
    for i, part in enumerate(loc):
        if i and loc[i - 1] == "agent" and part in BACKENDS:
            continue  # the union's tag: the spec names its backend already
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        out += ".backend"
    agents = raw.get("agents") if isinstance(raw, dict) else None
    if len(loc) > 1 and loc[0] == "agents" and isinstance(loc[1], int) and isinstance(agents, list):
        entry = agents[loc[1]] if loc[1] < len(agents) else None
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            out += f" (agent {entry['name']!r})"
    return out or "(top level)"
