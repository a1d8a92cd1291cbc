"""Routing decision time at 1,000 registered agents, beside a naive router, in one process.

Setup (seeded, so every run routes the same requests over the same registry):

* agents: `--agents` profiles over 5 backends, each with 1-6 of 20 capabilities plus
  "general", which every agent has (so those requests weigh all the agents); random skills
  0..1, capacities 1-8, a few tags, 3% disabled.
* snapshots: 10 load snapshots (in-flight 0..capacity per agent, so some are full) and
  breaker sets (3% of agents and, in half of them, one whole backend open), rotated
  every 100 decisions; an affinity map for 500 keys.
* requests (`--decisions`): a random capability (10% "general"), min skill 0/0.3/0.6/0.9,
  30% with an affinity key, 10% a preferred agent, 20% an A/B experiment (balanced 3 :
  skill 1 : least_loaded 1), 20% tagged so one of 3 rules (prefer, require, exclude) applies.

Measured: `Router.route` (index by capability sorted by skill, scan stopped by the score
bound) and the baseline, a naive router that scans every registered agent, applies the
same filters and rules, scores all eligible ones and sorts them. Both build the same
`RoutingDecision` and must choose the same agent for every request (checked). They
alternate per request so machine noise hits both alike; each call is timed alone with
perf_counter_ns after 500 warm-up decisions. Goal: Router p99 under 1 ms.

    .venv/bin/python benchmarks/routing.py --agents 1000 --decisions 10000
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Mapping, Set

from _stack import machine_info, percentile
from rich.console import Console
from rich.table import Table

from agents.router import (
    STRATEGIES,
    AgentProfile,
    Experiment,
    NoAgentAvailable,
    Registry,
    Router,
    RouteRequest,
    RoutingDecision,
    RoutingRule,
    Variant,
    score,
)

console = Console(soft_wrap=True, width=110)
CAPABILITIES = [f"cap-{i:02d}" for i in range(20)]
BACKENDS = ["llm", "claude_code", "remote", "python", "shell"]
TASK_TAGS = ["budget", "gpu-job", "no-gpu"]
Snapshot = tuple[dict[str, int], frozenset[str]]


def build(rng: random.Random, agents: int) -> tuple[Registry, list[Snapshot], dict[str, str]]:
    registry = Registry()
    for i in range(agents):
        caps = {c: round(rng.random(), 3) for c in rng.sample(CAPABILITIES, rng.randint(1, 6))}
        registry.register(
            AgentProfile(
                name=f"agent-{i:04d}",
                backend=rng.choice(BACKENDS),
                capabilities={**caps, "general": round(rng.random(), 3)},
                capacity=rng.randint(1, 8),
                enabled=rng.random() > 0.03,
                tags=frozenset(rng.sample(["gpu", "cheap", "eu", "fast"], rng.randint(0, 2))),
            )
        )
    names = [p.name for p in registry]
    snapshots = []
    for i in range(10):
        load = {p.name: rng.randint(0, p.capacity) for p in registry}
        breakers = {f"agent:{n}" for n in rng.sample(names, len(names) * 3 // 100)}
        snapshots.append(
            (load, frozenset(breakers | ({f"backend:{BACKENDS[i % 5]}"} if i % 2 else set())))
        )
    affinity = {f"key-{i}": rng.choice(names) for i in range(500)}
    return registry, snapshots, affinity


def requests(rng: random.Random, count: int, names: list[str]) -> list[RouteRequest]:
    return [
        RouteRequest(
            capability="general" if rng.random() < 0.1 else rng.choice(CAPABILITIES),
            min_skill=rng.choice([0, 0.3, 0.6, 0.9]),
            affinity_key=f"key-{rng.randrange(1000)}" if rng.random() < 0.3 else None,
            preferred=rng.choice(names) if rng.random() < 0.1 else None,
            experiment="ab" if rng.random() < 0.2 else None,
            tags=frozenset(rng.sample(TASK_TAGS, 1 if rng.random() < 0.2 else 0)),
            task_key=f"run-{i}/step",
        )
        for i in range(count)
    ]


class NaiveRouter(Router):
    """The baseline: every registered agent, every decision, scored and sorted."""

    def route(
        self,
        request: RouteRequest,
        *,
        load: Mapping[str, int] | None = None,
        open_breakers: Set[str] = frozenset(),
        affinity: Mapping[str, str] | None = None,
    ) -> RoutingDecision:
        load, affinity = load or {}, affinity or {}
        decision = RoutingDecision(
            capability=request.capability,
            agent="",
            backend="",
            strategy=self.strategy,
            score=0,
            reasons=[],
            candidates=0,
            considered=len(self.registry),
        )
        if request.experiment:
            variant = self.experiments[request.experiment].assign(
                request.affinity_key or request.task_key
            )
            decision.strategy, decision.experiment, decision.variant = (
                variant.strategy,
                "ab",
                variant.name,
            )
        rules = [r for r in self.rules if r.matches(request)]
        prefer = [r for r in rules if r.action == "prefer"]

        def free(p: AgentProfile) -> bool:
            return (
                p.enabled
                and f"agent:{p.name}" not in open_breakers
                and f"backend:{p.backend}" not in open_breakers
                and load.get(p.name, 0) < p.capacity
                and all(
                    r.targets(p) == (r.action == "require") for r in rules if r.action != "prefer"
                )
            )

        def eligible(p: AgentProfile, min_skill: float) -> bool:
            return p.capabilities.get(request.capability, -1.0) >= min_skill and free(p)

        for name in (request.preferred, affinity.get(request.affinity_key or "")):
            chosen = self.registry.get(name) if name else None
            if chosen and eligible(chosen, request.min_skill):
                return self._decide(decision, chosen, load)
        for min_skill in (request.min_skill, 0.0):
            ranked = sorted(
                (p for p in self.registry if eligible(p, min_skill)),
                key=lambda p: (
                    next((i for i, r in enumerate(prefer) if r.targets(p)), len(prefer)),
                    -score(
                        decision.strategy,
                        p.capabilities[request.capability],
                        load.get(p.name, 0),
                        p.capacity,
                    ),
                    p.name,
                ),
            )
            if ranked:
                return self._decide(decision, ranked[0], load)
        raise NoAgentAvailable(request.capability, {})


def timed(
    router: Router, request: RouteRequest, snapshot: Snapshot, affinity: dict[str, str]
) -> tuple[int, str]:
    """Nanoseconds of one decision, and the agent chosen."""
    load, breakers = snapshot
    start = time.perf_counter_ns()
    try:
        agent = router.route(request, load=load, open_breakers=breakers, affinity=affinity).agent
    except NoAgentAvailable:
        agent = "<none>"
    return time.perf_counter_ns() - start, agent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--decisions", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    registry, snapshots, affinity = build(rng, args.agents)
    rules = [
        RoutingRule(
            name="cheap-on-budget",
            priority=10,
            tags={"budget"},
            action="prefer",
            agent_tags={"cheap"},
        ),
        RoutingRule(
            name="gpu-jobs", priority=5, tags={"gpu-job"}, action="require", agent_tags={"gpu"}
        ),
        RoutingRule(name="no-gpu", tags={"no-gpu"}, action="exclude", agent_tags={"gpu"}),
    ]
    ab = Experiment(
        name="ab",
        variants=[
            Variant(name="control", weight=3, strategy="balanced"),
            Variant(name="skill", weight=1, strategy="skill"),
            Variant(name="load", weight=1, strategy="least_loaded"),  # no bound: full scans
        ],
    )
    routers = {
        "Router (indexed, bounded scan)": Router(registry, rules, [ab]),
        "baseline (scan + sort all)": NaiveRouter(registry, rules, [ab]),
    }
    names = [p.name for p in registry]
    reqs = requests(rng, args.decisions + 500, names)
    info = machine_info()
    console.print(f"[bold]acc routing decision benchmark[/]  {info['date']}")
    console.print(
        f"machine: {info['nproc']} x {info['cpu']}, Python {info['python']}, "
        f"load average {info['loadavg']}"
    )
    console.print(
        f"{len(registry)} agents, {len(CAPABILITIES) + 1} capabilities, "
        f"{args.decisions} decisions (+500 warm-up), seed {args.seed}, "
        f"strategies {STRATEGIES}"
    )

    samples: dict[str, list[float]] = {label: [] for label in routers}
    mismatches = 0
    for i, request in enumerate(reqs):
        snapshot = snapshots[i // 100 % len(snapshots)]
        order = list(routers.items()) if i % 2 else list(reversed(routers.items()))
        chosen = {}
        for label, router in order:
            elapsed, chosen[label] = timed(router, request, snapshot, affinity)
            if i >= 500:
                samples[label].append(elapsed / 1000)
        mismatches += len(set(chosen.values())) > 1

    table = Table(
        title=f"Routing decision time, µs ({args.decisions} decisions, {len(registry)} agents)"
    )
    for column in ("implementation", "p50", "p95", "p99", "max", "mean", "decisions/s"):
        left = column == "implementation"
        table.add_column(column, justify="left" if left else "right", no_wrap=left)
    for label, values in samples.items():
        mean = statistics.fmean(values)
        table.add_row(
            label,
            *(f"{percentile(values, p):.1f}" for p in (50, 95, 99, 100)),
            f"{mean:.1f}",
            f"{1e6 / mean:,.0f}",
        )
    console.print(table)
    p99 = percentile(samples[next(iter(routers))], 99)
    console.print(f"decisions where the two disagree: {mismatches}")
    console.print(f"goal Router p99 < 1000 µs: {'met' if p99 < 1000 else 'NOT met'} ({p99:.1f} µs)")
    return 0 if mismatches == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
