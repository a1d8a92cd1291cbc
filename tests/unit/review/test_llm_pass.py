"""The review's optional LLM pass through the llm backend (the real OpenAI and Anthropic
SDKs) against the local OpenAI/Anthropic-compatible stand-in: what the model is sent, which
of its answers become suggestions, and a review that stays complete when the model fails
or is not configured."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.support.openai_compatible_server import OpenAICompatibleServer

pytestmark = pytest.mark.unit
runner = CliRunner()
APP = """import yaml


def load(text):
    return yaml.load(text)


def average(values):
    return sum(values) / len(values)
"""
ANSWER = [
    {
        "path": "app.py",
        "line": 9,
        "category": "correctness",
        "severity": "warning",
        "message": "average([]) divides by zero.",
        "explanation": "An empty list reaches len(values) == 0.",
    },
    {"path": "app.py", "line": 5, "category": "security", "message": "yaml.load again"},
    {"path": "other.py", "line": 1, "category": "style", "message": "not reviewed"},
    {"path": "app.py", "line": 99, "category": "style", "message": "no such line"},
]


@pytest.fixture(scope="module")
def model() -> Iterator[OpenAICompatibleServer]:
    with OpenAICompatibleServer() as server:
        yield server


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    return tmp_path


def settings_for(server: OpenAICompatibleServer, provider: str) -> dict[str, str]:
    return {
        "ACC_REVIEW_LLM_PROVIDER": provider,
        "ACC_REVIEW_LLM_MODEL": "review-model",
        "ACC_OPENAI_BASE_URL": f"{server.url}/v1",
        "ACC_OPENAI_API_KEY": "sk-test",
        "ACC_ANTHROPIC_BASE_URL": server.url,
        "ACC_ANTHROPIC_API_KEY": "ant-test",
    }


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_the_models_suggestions_join_the_review_when_they_hold_up(
    model: OpenAICompatibleServer, tree: Path, provider: str
) -> None:
    model.requests.clear()
    model.replies[:] = ["Here is what I found:\n```json\n" + json.dumps(ANSWER) + "\n```"]
    result = runner.invoke(
        app,
        ["review", "--root", str(tree), "-f", "json", "--fail-on", "never", "--llm"],
        env=settings_for(model, provider),
    )
    assert result.exit_code == 0, result.output
    assert len(model.requests) == 1
    sent = model.requests[0]
    if provider == "openai":
        assert sent.path == "/v1/chat/completions"
        assert sent.headers["authorization"] == "Bearer sk-test"
        system = sent.body["messages"][0]["content"]
        user = sent.body["messages"][-1]["content"]
    else:
        assert sent.path == "/v1/messages"
        assert sent.headers["authorization"] == "Bearer ant-test"  # this SDK's key header
        system, user = sent.body["system"], sent.body["messages"][-1]["content"]
    assert sent.body["model"] == "review-model"
    assert "JSON array" in system
    assert "    9 |     return sum(values) / len(values)" in user
    assert "python.security.yaml-unsafe-load" in user  # the rules' findings go along
    report = json.loads(result.stdout)
    assert report["llm_model"] == "review-model"
    from_model = [s for s in report["suggestions"] if s["rule_id"].startswith("llm.")]
    assert [(s["rule_id"], s["line"], s["severity"]) for s in from_model] == [
        ("llm.correctness", 9, "warning")
    ]
    assert from_model[0]["confidence"] == 0.5
    assert from_model[0]["explanation"] == "An empty list reaches len(values) == 0."
    assert any(s["rule_id"] == "python.security.yaml-unsafe-load" for s in report["suggestions"])
    assert any("3 of the model's items left out" in e for e in report["errors"])


def test_off_by_default_and_a_failing_model_leaves_the_review_complete(
    model: OpenAICompatibleServer, tree: Path
) -> None:
    model.requests.clear()
    env = settings_for(model, "openai")
    plain = runner.invoke(app, ["review", "--root", str(tree), "-f", "json"], env=env)
    assert plain.exit_code == 1  # the rule findings gate as before
    assert model.requests == [] and json.loads(plain.stdout)["llm_model"] is None

    (tree / "app.py").write_text(APP + "# FAIL 503\n")  # the stand-in answers 503
    failed = runner.invoke(
        app,
        ["review", "--root", str(tree), "-f", "json", "--llm"],
        env={**env, "ACC_REVIEW_LLM": "true"},
    )
    assert failed.exit_code == 1, failed.output
    report = json.loads(failed.stdout)
    assert len(model.requests) == 1
    assert {s["rule_id"] for s in report["suggestions"]} >= {"python.security.yaml-unsafe-load"}
    assert any("LLM pass (review-model) failed" in e and "503" in e for e in report["errors"])

    no_model = runner.invoke(
        app, ["review", "--root", str(tree), "--llm"], env={"ACC_REVIEW_LLM_MODEL": ""}
    )
    assert no_model.exit_code == 2 and "ACC_REVIEW_LLM_MODEL" in no_model.output
