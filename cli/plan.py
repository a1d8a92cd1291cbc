"""`acc run --dry-run`: what a spec would do, without starting anything.

Lists the steps each pattern will run, the spawn decisions the complexity analyzer makes
(for a supervisor: on the run's input, as the manager's plan is only known at run time),
and an upper-bound budget estimate: agent calls, the longest wall time the step timeouts
allow, and LLM tokens (max_tokens per call).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.markup import escape
from rich.tree import Tree

from core.specs import (
    AgentSpec,
    ClaudeCodeAgent,
    ConsensusSpec,
    EventDrivenSpec,
    LlmAgent,
    PipelineSpec,
    PythonAgent,
    RemoteAgent,
    ReviewAgent,
    RunSpec,
    SagaSpec,
    ScatterGatherSpec,
    ShellAgent,
    StepSpec,
    SupervisorSpec,
)
from workflows import complexity


@dataclass
class Estimate:
    calls: int = 0
    wall_seconds: float = 0.0
    llm_tokens: int = 0
    notes: list[str] = field(default_factory=list)

    def add(self, step: StepSpec, times: int = 1, sequential: bool = True) -> None:
        self.calls += times
        self.wall_seconds += step.timeout_seconds * (times if sequential else 1)
        if isinstance(step.agent, LlmAgent):
            self.llm_tokens += step.agent.max_tokens * times


def describe_agent(agent: AgentSpec) -> str:
    """The agent in a few words, as markup-safe text (user content is escaped)."""
    return escape(_agent_words(agent))


def _agent_words(agent: AgentSpec) -> str:
    if isinstance(agent, ShellAgent):
        return " ".join(agent.command)
    if isinstance(agent, LlmAgent):
        return f"{agent.provider}:{agent.model}"
    if isinstance(agent, ClaudeCodeAgent):
        return f"claude in {agent.repo}"
    if isinstance(agent, PythonAgent):
        return f"plugin {agent.plugin}"
    if isinstance(agent, RemoteAgent):
        return f"remote {agent.agent_id or agent.capability or 'any'}"
    if isinstance(agent, ReviewAgent):
        return f"review {' '.join(agent.paths)} (fail on {agent.fail_on})"
    return f"capability {agent.capability}"


def describe_step(step: StepSpec) -> str:
    extra = r" \[approval]" if step.approval else ""
    return (
        f"[bold]{escape(step.name)}[/] ({step.agent.backend}: {describe_agent(step.agent)}){extra}"
        f"  ≤{step.timeout_seconds:g}s"
    )


def plan(spec: RunSpec) -> tuple[Tree, Estimate]:
    tree = Tree(f"[bold]{escape(spec.name)}[/] — {spec.pattern}")
    est = Estimate()
    if isinstance(spec, PipelineSpec | SagaSpec):
        for step in spec.steps:
            node = tree.add(describe_step(step))
            est.add(step)
            compensate = getattr(step, "compensate", None)
            if compensate is not None:
                node.add("on failure: " + describe_step(compensate))
    elif isinstance(spec, ScatterGatherSpec):
        tasks = spec.tasks or [spec.input or "(the run input)"]
        waves = -(-len(tasks) * len(spec.agents) // spec.max_concurrency)
        jobs = len(tasks) * len(spec.agents)
        node = tree.add(
            f"{len(spec.agents)} agent(s) x {len(tasks)} task(s), {spec.max_concurrency} at a "
            f"time ({waves} wave(s)), reducer {spec.reducer}, quorum {spec.quorum or jobs}"
        )
        for step in spec.agents:
            node.add(describe_step(step))
            est.add(step, len(tasks), sequential=False)
        est.wall_seconds *= waves
        if spec.scorer:
            tree.add("score each answer: " + describe_step(spec.scorer))
            est.add(spec.scorer, len(tasks) * len(spec.agents))
    elif isinstance(spec, ConsensusSpec):
        tree.add(
            f"{len(spec.participants)} proposals, then up to {spec.max_rounds} voting "
            f"round(s) until {spec.rule}"
        )
        for p in spec.participants:
            node = tree.add(f"{escape(p.name)} (weight {p.weight:g})")
            node.add("propose: " + describe_step(p.propose))
            node.add("vote: " + describe_step(p.vote))
            est.add(p.propose, sequential=False)
            est.add(p.vote, spec.max_rounds)
    elif isinstance(spec, SupervisorSpec):
        _supervisor(spec, tree, est)
    elif isinstance(spec, EventDrivenSpec):
        for h in spec.handlers:
            tree.add(f"on {escape(h.on)}: " + describe_step(h.step))
        tree.add(
            f"until a {escape(repr(spec.stop_on))} event; continue-as-new every "
            f"{spec.events_per_history} events"
        )
        est.notes.append("event-driven: cost grows with the events it receives")
    return tree, est


def _supervisor(spec: SupervisorSpec, tree: Tree, est: Estimate) -> None:
    tree.add("manager: " + describe_step(spec.manager))
    workers = tree.add(
        f"workers (child workflows, ≤{spec.max_parallel_workers} at once, "
        f"≤{spec.max_workers_per_iteration} per iteration)"
    )
    for capability, step in spec.workers.items():
        workers.add(f"{escape(capability)}: " + describe_step(step))
    gate = f"  gate ≥ {spec.quality_threshold:g}, ≤{spec.max_iterations} iteration(s)"
    tree.add("reviewer: " + describe_step(spec.reviewer) + gate)
    guess = complexity.plan(spec.input, list(spec.workers), spec.max_workers_per_iteration)
    spawn = tree.add("spawn decision on the run input (the manager's plan decides at run time)")
    for a in guess.assignments:
        reasons = escape(", ".join(a.reasons))
        spawn.add(f"{escape(a.capability)} worker, complexity {a.complexity:.2f} ({reasons})")
    for note in guess.notes[1:]:
        spawn.add(f"[yellow]{note}[/]")
    per_iteration = max(1, len(guess.assignments))
    biggest = max(spec.workers.values(), key=lambda s: s.timeout_seconds)
    for _ in range(spec.max_iterations):
        est.add(spec.manager)
        est.add(biggest, per_iteration, sequential=False)
        est.add(spec.reviewer)
