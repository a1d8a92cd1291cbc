"""The router against a brute-force reading of its rules, on random registries and snapshots:
it never picks an unavailable agent, always picks the best eligible one, keeps affinity while
it can, applies rules, and splits A/B traffic deterministically by weight."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.router import (
    AgentProfile,
    Experiment,
    NoAgentAvailable,
    Registry,
    Router,
    RouteRequest,
    RoutingRule,
    Variant,
    agent_breaker,
    backend_breaker,
    decision_event,
    score,
)

pytestmark = pytest.mark.unit

NAMES = [f"agent-{i}" for i in range(12)]
CAPABILITIES = ["code", "review", "test"]
BACKENDS = ["llm", "shell", "remote"]
SKILLS = st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]) | st.floats(0, 1)  # ties on purpose


@st.composite
def profiles(draw: st.DrawFn) -> list[AgentProfile]:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=len(NAMES), unique=True))
    return [
        AgentProfile(
            name=name,
            backend=draw(st.sampled_from(BACKENDS)),
            capabilities=draw(st.dictionaries(st.sampled_from(CAPABILITIES), SKILLS)),
            capacity=draw(st.integers(1, 3)),
            tags=draw(st.frozensets(st.sampled_from(["gpu", "cheap"]))),
            enabled=draw(st.booleans()),
        )
        for name in names
    ]


LOADS = st.dictionaries(st.sampled_from(NAMES), st.integers(0, 3))
BREAKERS = st.frozensets(
    st.sampled_from([agent_breaker(n) for n in NAMES] + [backend_breaker(b) for b in BACKENDS])
)
REQUESTS = st.builds(
    RouteRequest, capability=st.sampled_from(CAPABILITIES), min_skill=st.sampled_from([0, 0.5, 0.9])
)


def available(p: AgentProfile, load: dict[str, int], breakers: frozenset[str]) -> bool:
    return (
        p.enabled
        and load.get(p.name, 0) < p.capacity
        and f"agent:{p.name}" not in breakers
        and f"backend:{p.backend}" not in breakers
    )


def best(agents: list[AgentProfile], capability: str, load: dict[str, int]) -> str:
    return min(
        agents,
        key=lambda p: (
            -score("balanced", p.capabilities[capability], load.get(p.name, 0), p.capacity),
            p.name,
        ),
    ).name


@given(profiles(), REQUESTS, LOADS, BREAKERS)
def test_picks_the_best_available_agent_or_says_why_none(
    agents: list[AgentProfile],
    request: RouteRequest,
    load: dict[str, int],
    breakers: frozenset[str],
) -> None:
    router = Router(Registry(agents))
    capable = [p for p in agents if request.capability in p.capabilities]
    free = [p for p in capable if available(p, load, breakers)]
    skilled = [p for p in free if p.capabilities[request.capability] >= request.min_skill]
    if not free:
        with pytest.raises(NoAgentAvailable) as raised:
            router.route(request, load=load, open_breakers=breakers)
        assert set(raised.value.excluded) == {p.name for p in capable}
        return
    decision = router.route(request, load=load, open_breakers=breakers)
    assert decision.agent == best(skilled or free, request.capability, load)
    assert decision.fallback_used == (not skilled)
    assert decision.candidates == len(capable) and decision.considered <= len(capable)
    assert decision.reasons[-1].startswith(f"chose {decision.agent}")


@given(profiles(), REQUESTS, LOADS, BREAKERS, st.sampled_from(NAMES), st.sampled_from(NAMES))
def test_never_picks_an_unavailable_agent_even_preferred_or_as_fallback(
    agents: list[AgentProfile],
    request: RouteRequest,
    load: dict[str, int],
    breakers: frozenset[str],
    preferred: str,
    fallback: str,
) -> None:
    router = Router(Registry(agents), fallback_agent=fallback)
    request = request.model_copy(update={"preferred": preferred})
    try:
        decision = router.route(request, load=load, open_breakers=breakers)
    except NoAgentAvailable:
        assert not any(available(p, load, breakers) for p in agents if p.name == fallback)
        return
    chosen = next(p for p in agents if p.name == decision.agent)
    assert available(chosen, load, breakers)
    preferred_ok = [
        p
        for p in agents
        if p.name == preferred
        and available(p, load, breakers)
        and p.capabilities.get(request.capability, -1) >= request.min_skill
    ]
    if preferred_ok:  # else it may still win later, as the best of a lower skill
        assert decision.agent == preferred
    assert decision.fallback_used != bool(preferred_ok)


@given(profiles(), st.sampled_from(CAPABILITIES), LOADS, LOADS)
def test_affinity_is_sticky_while_the_agent_is_available(
    agents: list[AgentProfile], capability: str, first_load: dict[str, int], later: dict[str, int]
) -> None:
    router = Router(Registry(agents))
    request = RouteRequest(capability=capability, affinity_key="run-1/session")
    try:
        first = router.route(request, load=first_load)
    except NoAgentAvailable:
        return
    affinity = {"run-1/session": first.agent}
    agent = next(p for p in agents if p.name == first.agent)
    later = {**later, agent.name: min(later.get(agent.name, 0), agent.capacity - 1)}
    assert router.route(request, load=later, affinity=affinity).agent == agent.name
    # Full or broken, the agent is left for another one, and the reasons say so.
    for snapshot in (
        {"load": {agent.name: agent.capacity}},
        {"open_breakers": {agent_breaker(agent.name)}},
    ):
        try:
            moved = router.route(request, affinity=affinity, **snapshot)
        except NoAgentAvailable:
            continue
        assert moved.agent != agent.name
        assert any(r.startswith(f"affinity {agent.name} unavailable") for r in moved.reasons)


@given(profiles(), REQUESTS, LOADS)
def test_rules_exclude_require_and_prefer(
    agents: list[AgentProfile], request: RouteRequest, load: dict[str, int]
) -> None:
    rules = {
        "exclude": RoutingRule(name="no-gpu", action="exclude", agent_tags={"gpu"}),
        "require": RoutingRule(name="cheap-only", action="require", agent_tags={"cheap"}),
        "prefer": RoutingRule(name="cheap-first", action="prefer", agent_tags={"cheap"}),
    }
    for action, rule in rules.items():
        router = Router(Registry(agents), [rule])
        try:
            decision = router.route(request, load=load)
        except NoAgentAvailable:
            continue
        tags = next(p for p in agents if p.name == decision.agent).tags
        assert f"rule {rule.name} ({action}, priority 0)" in decision.reasons
        if action == "exclude":
            assert "gpu" not in tags
        elif action == "require":
            assert "cheap" in tags
        else:
            free_cheap = [
                p
                for p in agents
                if "cheap" in p.tags
                and available(p, load, frozenset())
                and p.capabilities.get(request.capability, -1) >= request.min_skill
            ]
            assert ("cheap" in tags) or not free_cheap


def test_rules_match_on_capability_and_request_tags() -> None:
    gpu = AgentProfile(name="gpu", backend="llm", capabilities={"code": 0.1}, tags={"gpu"})
    fast = AgentProfile(name="fast", backend="llm", capabilities={"code": 0.9, "review": 0.9})
    rule = RoutingRule(
        name="gpu-jobs",
        priority=5,
        capability="code",
        tags={"cuda"},
        action="require",
        agents={"gpu"},
    )
    router = Router(Registry([gpu, fast]), [rule])
    assert router.route(RouteRequest(capability="code")).agent == "fast"
    assert router.route(RouteRequest(capability="code", tags={"cuda"})).agent == "gpu"
    assert router.route(RouteRequest(capability="review", tags={"cuda"})).agent == "fast"
    with pytest.raises(ValueError, match="targets no agents"):
        RoutingRule(name="empty", action="prefer")


@settings(max_examples=25)
@given(st.lists(st.integers(1, 10), min_size=1, max_size=4), st.text(max_size=8))
def test_ab_assignment_is_deterministic_and_follows_the_weights(
    weights: list[int], salt: str
) -> None:
    experiment = Experiment(
        name=f"exp-{salt}",
        variants=[Variant(name=f"v{i}", weight=w, strategy="skill") for i, w in enumerate(weights)],
    )
    keys = [f"run-{i}/step" for i in range(4000)]
    counts = Counter(experiment.assign(key).name for key in keys)
    assert [experiment.assign(key).name for key in keys[:50]] == [
        Experiment.model_validate(experiment.model_dump()).assign(key).name for key in keys[:50]
    ]
    for i, weight in enumerate(weights):
        assert abs(counts[f"v{i}"] / len(keys) - weight / sum(weights)) < 0.04


def test_experiment_variant_sets_the_strategy_and_is_recorded() -> None:
    busy_expert = AgentProfile(name="expert", backend="llm", capabilities={"code": 1.0}, capacity=4)
    idle_novice = AgentProfile(name="novice", backend="llm", capabilities={"code": 0.1})
    experiment = Experiment(
        name="load-vs-skill",
        variants=[
            Variant(name="skill", weight=1, strategy="skill"),
            Variant(name="load", weight=1, strategy="least_loaded"),
        ],
    )
    router = Router(Registry([busy_expert, idle_novice]), experiments=[experiment])
    seen = {}
    for i in range(40):
        request = RouteRequest(capability="code", experiment="load-vs-skill", task_key=f"r{i}")
        decision = router.route(request, load={"expert": 3})
        assert decision.experiment == "load-vs-skill"
        assert decision.variant == experiment.assign(f"r{i}").name
        seen[decision.variant] = decision.agent
    assert seen == {"skill": "expert", "load": "novice"}
    with pytest.raises(ValueError, match="unknown experiment"):
        router.route(RouteRequest(capability="code", experiment="nope"))


@given(st.lists(st.tuples(st.booleans(), st.sampled_from(NAMES), SKILLS), max_size=40))
def test_registry_index_matches_a_rebuild_after_any_register_and_unregister(
    operations: list[tuple[bool, str, float]],
) -> None:
    registry = Registry()
    for register, name, skill in operations:
        if register:
            registry.register(AgentProfile(name=name, backend="llm", capabilities={"code": skill}))
        else:
            registry.unregister(name)
    rebuilt = Registry(list(registry))
    assert registry.capable("code") == rebuilt.capable("code")
    assert [name for _, name, _ in registry.capable("code")] == [
        p.name for p in sorted(registry, key=lambda p: (-p.capabilities["code"], p.name))
    ]


def test_no_agent_available_lists_every_reason_and_the_event_carries_the_decision() -> None:
    agents = [
        AgentProfile(name="off", backend="llm", capabilities={"code": 1}, enabled=False),
        AgentProfile(name="full", backend="llm", capabilities={"code": 1}, capacity=2),
        AgentProfile(name="broken", backend="shell", capabilities={"code": 1}),
    ]
    router = Router(Registry(agents), fallback_agent="ghost")
    with pytest.raises(NoAgentAvailable) as raised:
        router.route(
            RouteRequest(capability="code"),
            load={"full": 2},
            open_breakers={backend_breaker("shell")},
        )
    assert raised.value.excluded == {
        "off": "disabled",
        "full": "at capacity (2/2)",
        "broken": "backend shell breaker open",
        "ghost": "not registered",
    }
    assert raised.value.status_code == 503 and "full: at capacity" in raised.value.message
    decision = router.route(RouteRequest(capability="code", affinity_key="k"), load={"full": 1})
    event = decision_event(decision, "run-9", tenant="acme", step="build")
    assert (event.type, event.run_id, event.tenant, event.step) == (
        "routing.decided",
        "run-9",
        "acme",
        "build",
    )
    assert event.data["agent"] == "broken" and event.data["reasons"] == decision.reasons
