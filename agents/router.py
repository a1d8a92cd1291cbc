"""Routing: which registered agent runs a task, decided in microseconds and explained.

An agent is a named role (`AgentProfile`): a backend, a skill score per capability (0..1),
a capacity (tasks it runs at once) and tags. Agents are declared in configuration and may
register or leave at run time; the `Registry` keeps, per capability, its agents sorted by
skill (best first, then name), so a decision only looks at agents that can do the task.

`Router.route` is pure: the same registry, rules, experiments and caller snapshots (in-flight
tasks per agent, open breaker keys, affinity map) give the same decision, with no I/O, so
it can run anywhere, a workflow included. The steps:

1. Candidates: agents with the capability and skill >= `min_skill`.
2. Hard filters: disabled; breaker open (`agent_breaker(name)` or `backend_breaker(backend)`
   in `open_breakers`); at capacity (in_flight >= capacity); any matching `require` rule
   that does not target the agent or `exclude` rule that does (these commute, so their
   priority only orders the reasons).
3. Explicit choices: the request's `preferred` agent, then the agent its `affinity_key`
   was routed to before (sticky while it passes 1 and 2).
4. Otherwise the least (tier, -score, name). Matching `prefer` rules, by priority, make
   tiers: an agent targeted by the first is tier 0, by the second tier 1..., by none last.
       score = w * skill + (1 - w) * spare,  spare = (capacity - in_flight) / capacity
   with w the strategy's skill weight (`STRATEGIES`). Candidates come best skill first, so
   the scan stops once w * skill + (1 - w), the most any later one can score, is below the
   best found: that is what keeps a decision well under 1 ms at 1,000 agents.
5. Fallback when 1-4 leave nobody: the best available agent with the capability at any
   skill, then the router's configured `fallback_agent` (availability checked only). An
   unavailable `preferred` agent also sets `fallback_used`.
6. A/B: a request naming an experiment gets the variant picked by hashing (experiment,
   affinity key or task key) over the variants' weights; its strategy sets w in step 4.

The caller stores `decision.agent` under the affinity key, publishes `decision_event(...)`,
and takes a concurrency lease (limits.py); `NoAgentAvailable` says why each agent
with the capability was passed over.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable, Iterator, Mapping, Set
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.errors import ServiceUnavailable
from core.events import Event
from core.specs import NAME_PATTERN

Strategy = Literal["balanced", "skill", "least_loaded"]
STRATEGIES: dict[Strategy, float] = {"balanced": 0.7, "skill": 1.0, "least_loaded": 0.0}
Skill = Annotated[float, Field(ge=0, le=1)]
_Entry = tuple[float, str, "AgentProfile"]  # (-skill, name, profile): sorts best skill first


def agent_breaker(name: str) -> str:
    """Circuit-breaker key of one agent, as breakers.CircuitBreakers stores it."""
    return f"agent:{name}"


def backend_breaker(backend: str) -> str:
    """Circuit-breaker key of a backend; an open one takes all of its agents out."""
    return f"backend:{backend}"


def score(strategy: Strategy, skill: float, in_flight: int, capacity: int) -> float:
    """The step-4 score of an agent that has room (0 <= in_flight < capacity)."""
    weight = STRATEGIES[strategy]
    return weight * skill + (1 - weight) * ((capacity - in_flight) / capacity)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgentProfile(_Frozen):
    name: str = Field(pattern=NAME_PATTERN)
    backend: str = Field(min_length=1, description="Backend kind: llm, claude_code, remote...")
    capabilities: dict[str, Skill] = Field(default_factory=dict, description="Skill per capability")
    capacity: int = Field(1, ge=1, description="Tasks it runs at once")
    tags: frozenset[str] = frozenset()
    enabled: bool = True


class RouteRequest(_Frozen):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    capability: str = Field(min_length=1)
    min_skill: Skill = 0.0
    affinity_key: str | None = Field(None, description="Related tasks share it, and the agent")
    preferred: str | None = Field(None, description="Agent to use when it is available")
    tags: frozenset[str] = Field(
        frozenset(), strict=False, description="The task's tags, matched by rules"
    )
    experiment: str | None = None
    task_key: str = Field("", description="A/B hash key without an affinity key: run/step")


class RoutingRule(_Frozen):
    """When a request matches (capability, all `tags`), act on the targeted agents."""

    name: str = Field(min_length=1)
    priority: int = Field(0, description="Higher first")
    capability: str | None = Field(None, description="None matches every capability")
    tags: frozenset[str] = Field(frozenset(), description="The request must carry all of these")
    action: Literal["prefer", "require", "exclude"]
    agents: frozenset[str] = frozenset()
    agent_tags: frozenset[str] = Field(frozenset(), description="Targets agents with any of them")

    @model_validator(mode="after")
    def _targets_something(self) -> RoutingRule:
        if not self.agents and not self.agent_tags:
            raise ValueError(f"rule {self.name!r} targets no agents and no agent tags")
        return self

    def matches(self, request: RouteRequest) -> bool:
        return (self.capability in (None, request.capability)) and self.tags <= request.tags

    def targets(self, profile: AgentProfile) -> bool:
        return profile.name in self.agents or not self.agent_tags.isdisjoint(profile.tags)


class Variant(_Frozen):
    name: str = Field(min_length=1)
    weight: float = Field(gt=0)
    strategy: Strategy


class Experiment(_Frozen):
    """An A/B test of strategies; a key's variant never changes while the weights do not."""

    name: str = Field(min_length=1)
    variants: tuple[Variant, ...] = Field(min_length=1)

    def assign(self, key: str) -> Variant:
        digest = hashlib.blake2b(f"{self.name}\0{key}".encode(), digest_size=8).digest()
        point = int.from_bytes(digest, "big") / 2**64 * sum(v.weight for v in self.variants)
        for variant in self.variants:
            point -= variant.weight
            if point < 0:
                return variant
        return self.variants[-1]


class RoutingDecision(BaseModel):
    capability: str
    agent: str
    backend: str
    strategy: Strategy
    score: float
    reasons: list[str]
    candidates: int = Field(description="Agents with the capability")
    considered: int = Field(description="Agents examined before the choice was certain")
    fallback_used: bool = False
    affinity_key: str | None = None
    experiment: str | None = None
    variant: str | None = None


class NoAgentAvailable(ServiceUnavailable):
    type = "no_agent_available"

    def __init__(self, capability: str, excluded: dict[str, str]) -> None:
        shown = "; ".join(f"{name}: {why}" for name, why in list(excluded.items())[:10])
        more = f" (and {len(excluded) - 10} more)" if len(excluded) > 10 else ""
        super().__init__(
            f"no agent available for capability {capability!r}: "
            + (shown + more if excluded else "no registered agent has it"),
            {"capability": capability, "excluded": excluded},
        )
        self.capability = capability
        self.excluded = excluded


class Registry:
    """Agent profiles by name, indexed per capability by skill for the router."""

    def __init__(self, profiles: Iterable[AgentProfile] = ()) -> None:
        self._profiles: dict[str, AgentProfile] = {}
        self._index: dict[str, list[_Entry]] = {}
        for profile in profiles:
            self.register(profile)

    def register(self, profile: AgentProfile) -> None:
        """Add an agent, or replace the one of the same name."""
        self.unregister(profile.name)
        self._profiles[profile.name] = profile
        for capability, skill in profile.capabilities.items():
            bisect.insort(self._index.setdefault(capability, []), (-skill, profile.name, profile))

    def unregister(self, name: str) -> AgentProfile | None:
        profile = self._profiles.pop(name, None)
        for capability, skill in (profile.capabilities if profile else {}).items():
            entries = self._index[capability]
            del entries[bisect.bisect_left(entries, (-skill, name))]
            if not entries:
                del self._index[capability]
        return profile

    def get(self, name: str) -> AgentProfile | None:
        return self._profiles.get(name)

    def capable(self, capability: str) -> list[_Entry]:
        """(-skill, name, profile) of the agents with the capability, best skill first."""
        return self._index.get(capability, [])

    def __len__(self) -> int:
        return len(self._profiles)

    def __iter__(self) -> Iterator[AgentProfile]:
        return iter(self._profiles.values())


@dataclass(frozen=True)
class _View:
    """What one decision sees: the caller's snapshots and the rules matching the request."""

    load: Mapping[str, int]
    open_breakers: Set[str]
    hard: list[RoutingRule]
    prefer: list[RoutingRule]

    def unavailable(self, profile: AgentProfile, *, rules: bool = True) -> str | None:
        """Why the agent cannot take a task now (step 2), or None when it can."""
        if not profile.enabled:
            return "disabled"
        if self.open_breakers and agent_breaker(profile.name) in self.open_breakers:
            return "breaker open"
        if self.open_breakers and backend_breaker(profile.backend) in self.open_breakers:
            return f"backend {profile.backend} breaker open"
        in_flight = self.load.get(profile.name, 0)
        if in_flight >= profile.capacity:
            return f"at capacity ({in_flight}/{profile.capacity})"
        for rule in self.hard if rules else ():
            if rule.action == "exclude" and rule.targets(profile):
                return f"excluded by rule {rule.name}"
            if rule.action == "require" and not rule.targets(profile):
                return f"not among the agents rule {rule.name} requires"
        return None


class Router:
    """Pure, deterministic routing over a registry; see the module docstring for the steps."""

    def __init__(
        self,
        registry: Registry,
        rules: Iterable[RoutingRule] = (),
        experiments: Iterable[Experiment] = (),
        *,
        strategy: Strategy = "balanced",
        fallback_agent: str | None = None,
    ) -> None:
        self.registry = registry
        self.rules = sorted(rules, key=lambda rule: (-rule.priority, rule.name))
        self.experiments = {experiment.name: experiment for experiment in experiments}
        self.strategy = strategy
        self.fallback_agent = fallback_agent

    def route(
        self,
        request: RouteRequest,
        *,
        load: Mapping[str, int] | None = None,
        open_breakers: Set[str] = frozenset(),
        affinity: Mapping[str, str] | None = None,
    ) -> RoutingDecision:
        """Choose an agent for `request`, or raise `NoAgentAvailable`.

        `load`: in-flight tasks per agent; `open_breakers`: breaker keys that refuse calls;
        `affinity`: the agent chosen before per affinity key (the caller records new ones).
        """
        entries = self.registry.capable(request.capability)
        decision = RoutingDecision(
            capability=request.capability,
            agent="",
            backend="",
            strategy=self.strategy,
            score=0.0,
            reasons=[f"{len(entries)} agents have {request.capability}"],
            candidates=len(entries),
            considered=0,
            affinity_key=request.affinity_key,
        )
        if request.experiment is not None:
            experiment = self.experiments.get(request.experiment)
            if experiment is None:
                raise ValueError(f"unknown experiment {request.experiment!r}")
            variant = experiment.assign(request.affinity_key or request.task_key)
            decision.experiment, decision.variant = experiment.name, variant.name
            decision.strategy = variant.strategy
            decision.reasons.append(f"experiment {experiment.name}: variant {variant.name}")
        rules = [rule for rule in self.rules if rule.matches(request)]
        decision.reasons.extend(f"rule {r.name} ({r.action}, priority {r.priority})" for r in rules)
        view = _View(
            load or {},
            open_breakers,
            [r for r in rules if r.action != "prefer"],
            [r for r in rules if r.action == "prefer"],
        )
        chosen = self._explicit(request, decision, view, affinity or {})
        if chosen is None:
            chosen = self._best(entries, request.min_skill, decision, view)
        if chosen is None and request.min_skill > 0:
            decision.reasons.append(f"none free with skill >= {request.min_skill:.2f}: any skill")
            decision.fallback_used = True
            below = bisect.bisect_right(entries, -request.min_skill, key=lambda e: e[0])
            chosen = self._best(entries[below:], 0.0, decision, view)  # the rest were busy
        fallback = self.registry.get(self.fallback_agent) if self.fallback_agent else None
        if chosen is None and fallback and view.unavailable(fallback, rules=False) is None:
            decision.fallback_used, chosen = True, fallback
            decision.reasons.append(f"fell back to the configured agent {fallback.name}")
        if chosen is None:
            excluded = {p.name: view.unavailable(p) or "?" for _, _, p in entries}
            if self.fallback_agent and self.fallback_agent not in excluded:
                excluded[self.fallback_agent] = (
                    view.unavailable(fallback, rules=False) or "?" if fallback else "not registered"
                )
            raise NoAgentAvailable(request.capability, excluded)
        return self._decide(decision, chosen, view.load)

    def _explicit(
        self,
        request: RouteRequest,
        decision: RoutingDecision,
        view: _View,
        affinity: Mapping[str, str],
    ) -> AgentProfile | None:
        """Step 3: the preferred agent, then the affinity key's agent, when available."""
        affine = affinity.get(request.affinity_key) if request.affinity_key is not None else None
        for label, name in (("preferred agent", request.preferred), ("affinity", affine)):
            if name is None:
                continue
            profile = self.registry.get(name)
            skill = profile.capabilities.get(request.capability) if profile else None
            why = (
                "not registered"
                if profile is None
                else f"lacks {request.capability}"
                if skill is None
                else f"skill {skill:.2f} < {request.min_skill:.2f}"
                if skill < request.min_skill
                else view.unavailable(profile)
            )
            if why is None:
                decision.reasons.append(f"{label} {name} is available")
                return profile
            decision.reasons.append(f"{label} {name} unavailable: {why}")
            decision.fallback_used |= label == "preferred agent"
        return None

    @staticmethod
    def _best(
        entries: list[_Entry], min_skill: float, decision: RoutingDecision, view: _View
    ) -> AgentProfile | None:
        """Step 4: the least (tier, -score, name) among available agents with min_skill."""
        weight = STRATEGIES[decision.strategy]
        rest, load, prefer = 1 - weight, view.load, view.prefer
        best: tuple[int, float, str] | None = None
        chosen: AgentProfile | None = None
        for neg_skill, name, profile in entries:
            skill = -neg_skill
            if skill < min_skill or (
                best is not None and best[0] == 0 and weight * skill + rest < -best[1]
            ):
                break  # sorted by skill: nobody later can beat the best
            decision.considered += 1
            if view.unavailable(profile) is not None:
                continue
            tier = next((i for i, rule in enumerate(prefer) if rule.targets(profile)), len(prefer))
            spare = (profile.capacity - load.get(name, 0)) / profile.capacity
            key = (tier, -(weight * skill + rest * spare), name)
            if best is None or key < best:
                best, chosen = key, profile
        if best is not None and best[0] < len(prefer):
            decision.reasons.append(f"preferred by rule {prefer[best[0]].name}")
        return chosen

    @staticmethod
    def _decide(
        decision: RoutingDecision, profile: AgentProfile, load: Mapping[str, int]
    ) -> RoutingDecision:
        skill = profile.capabilities.get(decision.capability, 0.0)
        in_flight = load.get(profile.name, 0)
        decision.agent, decision.backend = profile.name, profile.backend
        decision.score = score(decision.strategy, skill, in_flight, profile.capacity)
        decision.reasons.append(
            f"chose {profile.name}: {decision.strategy} score {decision.score:.3f} "
            f"(skill {skill:.2f}, {in_flight}/{profile.capacity} in flight)"
        )
        return decision


def decision_event(
    decision: RoutingDecision,
    run_id: str,
    *,
    tenant: str = "default",
    step: str | None = None,
    source: str = "worker/agents",
    correlation_id: str | None = None,
) -> Event:
    """The "routing.decided" event of a decision, for the caller to publish."""
    return Event(
        type="routing.decided",
        source=source,
        run_id=run_id,
        tenant=tenant,
        step=step,
        correlation_id=correlation_id,
        data=decision.model_dump(mode="json"),
    )
