"""The agents file: what it declares becomes the router's registry, rules and experiments;
every mistake is an error naming the file and the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agents.config import AgentsConfig, AgentsFileError, load_agents
from agents.router import RouteRequest
from core.specs import LlmAgent, ShellAgent

pytestmark = pytest.mark.unit

AGENTS = """
agents:
  - name: coder
    capabilities: {code: 0.9, review: 0.6}
    capacity: 2
    tags: [cheap]
    agent: {backend: llm, model: gpt-4o, prompt: Write the code.}
  - name: reviewer
    capabilities: {review: 0.95}
    agent: {backend: shell, command: cat}
  - name: idle
    enabled: false
    capabilities: {review: 1.0}
    agent: {backend: remote, capability: review}
rules:
  - {name: no-cheap-reviews, capability: review, action: exclude, agent_tags: [cheap]}
experiments:
  - name: ab
    variants: [{name: a, weight: 1, strategy: balanced}, {name: b, weight: 3, strategy: skill}]
strategy: skill
fallback_agent: coder
"""


def write(tmp_path: Path, text: str, name: str = "agents.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_declared_file_builds_the_registry_and_router(tmp_path: Path) -> None:
    config = load_agents(write(tmp_path, AGENTS))

    coder = config.declared("coder")
    assert coder is not None and isinstance(coder.agent, LlmAgent)
    assert coder.agent.model == "gpt-4o" and coder.tags == {"cheap"}
    assert config.declared("nobody") is None
    registry = config.registry()
    assert [p.name for p in registry] == ["coder", "reviewer", "idle"]
    assert registry.get("reviewer") is not None
    assert registry.get("reviewer").backend == "shell"  # type: ignore[union-attr]
    assert not registry.get("idle").enabled  # type: ignore[union-attr]

    router = config.router()
    assert router.strategy == "skill" and router.fallback_agent == "coder"
    review = router.route(RouteRequest(capability="review"))
    assert review.agent == "reviewer"  # idle is disabled, the rule excludes cheap coder
    assert "rule no-cheap-reviews (exclude, priority 0)" in review.reasons
    assert router.route(RouteRequest(capability="deploy")).fallback_used
    assert router.route(RouteRequest(capability="code", experiment="ab")).variant in {"a", "b"}


def test_a_bare_list_json_file_declares_agents_and_no_file_declares_none(
    tmp_path: Path,
) -> None:
    shell = {"backend": "shell", "command": "echo hi"}
    raw = [{"name": "echo", "capabilities": {"say": 1}, "agent": shell}]
    config = load_agents(write(tmp_path, json.dumps(raw), "agents.json"))
    echo = config.declared("echo")
    assert echo is not None and isinstance(echo.agent, ShellAgent)
    assert echo.agent.command == ["echo", "hi"] and echo.capacity == 1
    assert load_agents(None) == AgentsConfig()
    assert load_agents(write(tmp_path, "")) == AgentsConfig()
    assert len(AgentsConfig().registry()) == 0


@pytest.mark.parametrize(
    ("agent", "field", "message"),
    [
        (
            {"agent": {"backend": "shell", "command": "echo", "shel": 1}},
            "agents[0].agent.shel",
            "Extra inputs are not permitted",
        ),
        (
            {"agent": {"backend": "routed", "capability": "code"}},
            "agents[0].agent",
            "cannot be routed itself",
        ),
        ({"agent": {"backend": "gpt"}}, "agents[0].agent.backend", "does not match"),
        ({"agent": {"backend": "llm", "prompt": "x"}}, "agents[0].agent.model", "Field required"),
        ({"capabilities": {"code": 1.5}}, "agents[0].capabilities.code", "less than or equal"),
        ({"capacity": 0}, "agents[0].capacity", "greater than or equal to 1"),
        ({"name": "Coder"}, "agents[0].name", "should match pattern"),
    ],
)
def test_an_invalid_agent_is_named_by_file_field_and_agent(
    tmp_path: Path, agent: dict[str, Any], field: str, message: str
) -> None:
    entry = {"name": "coder", "agent": {"backend": "shell", "command": "echo"}, **agent}
    path = write(tmp_path, json.dumps({"agents": [entry]}))
    with pytest.raises(AgentsFileError) as caught:
        load_agents(path)
    error = caught.value
    assert str(path) in error.message and error.type == "invalid_agents_file"
    [problem] = error.details
    assert problem["field"] == f"{field} (agent {entry['name']!r})"
    assert message in problem["message"]
    assert f"{problem['field']}: " in error.message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"agents": [{"name": "a", "agent": {"backend": "shell", "command": "x"}}] * 2},
            "agent names used twice: a",
        ),
        ({"fallback_agent": "ghost"}, "fallback_agent 'ghost' is not a declared agent"),
        (
            {"rules": [{"name": "r", "action": "prefer", "agents": ["ghost"]}]},
            "rule 'r' names undeclared agents: ['ghost']",
        ),
        ({"rules": [{"name": "r", "action": "prefer"}]}, "targets no agents"),
        ({"strategy": "random"}, "strategy: Input should be"),
        ({"agent": []}, "agent: Extra inputs are not permitted"),
    ],
)
def test_inconsistent_files_are_refused_with_the_reason(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    raw = {"agents": [{"name": "a", "agent": {"backend": "shell", "command": "x"}}], **change}
    with pytest.raises(AgentsFileError, match="is invalid") as caught:
        load_agents(write(tmp_path, json.dumps(raw)))
    assert message in caught.value.message


def test_a_missing_or_unparsable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(AgentsFileError, match=r"agents file .*nowhere.yaml \(ACC_AGENTS_FILE\)"):
        load_agents(tmp_path / "nowhere.yaml")
    with pytest.raises(AgentsFileError, match=r"bad\.yaml is not valid YAML or JSON"):
        load_agents(write(tmp_path, "agents: [unclosed", "bad.yaml"))
    with pytest.raises(AgentsFileError, match="cannot read agents file"):
        load_agents(tmp_path)  # a directory
