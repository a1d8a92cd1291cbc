"""Commands that need no server: dry runs, spawn decisions, the schema, bad spec files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app

pytestmark = pytest.mark.unit
runner = CliRunner()


def text(output: str) -> str:
    """The output with the console's line wrapping undone."""
    return " ".join(output.split())


def write(tmp_path: Path, spec: dict[str, object]) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def test_dry_run_shows_the_plan_and_starts_nothing(tmp_path: Path) -> None:
    spec = {
        "name": "boss",
        "pattern": "supervisor",
        "input": "- refactor the database schema\n- write tests for the api\n- update docs",
        "manager": {"name": "m", "agent": {"backend": "shell", "command": "cat"}},
        "workers": {
            "default": {"name": "w", "agent": {"backend": "shell", "command": "cat"}},
            "testing": {
                "name": "t",
                "agent": {"backend": "shell", "command": "cat"},
                "timeout_seconds": 60,
            },
        },
        "reviewer": {
            "name": "r",
            "agent": {
                "backend": "llm",
                "model": "gpt-4o-mini",
                "prompt": "score it",
                "max_tokens": 100,
            },
        },
        "max_iterations": 2,
    }
    result = runner.invoke(app, ["run", write(tmp_path, spec), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "spawn decision" in result.output and "testing worker" in result.output
    assert "200 LLM tokens" in text(result.output)  # two reviews x 100 max tokens
    assert "Nothing was started" in text(result.output)


def test_a_bad_spec_file_names_the_field(tmp_path: Path) -> None:
    path = write(tmp_path, {"name": "x", "pattern": "saga", "steps": [{"name": "a"}]})
    result = runner.invoke(app, ["run", path, "--dry-run"])
    assert result.exit_code == 1
    assert "steps.0.agent: Field required" in result.output
    missing = runner.invoke(app, ["run", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 1 and "nope.yaml not found" in text(missing.output)


def test_spawn_shows_capabilities_complexity_and_degradation() -> None:
    plan = json.dumps(
        {
            "subtasks": [
                {"task": "refactor the database layer for concurrency"},
                {"task": "write pytest tests", "capability": "testing"},
                {"task": "fix a typo"},
            ]
        }
    )
    result = runner.invoke(app, ["spawn", plan, "-w", "default", "-w", "testing", "--limit", "2"])
    assert result.exit_code == 0, result.output
    assert "testing" in result.output
    assert "spawn limit 2 reached: 3 subtasks merged into 2 workers" in text(result.output)


def test_schema_is_the_published_json_schema() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    patterns = {"pipeline", "scatter-gather", "consensus", "saga", "supervisor", "event-driven"}
    assert set(schema["discriminator"]["mapping"]) == patterns


def test_help_has_examples() -> None:
    result = runner.invoke(app, ["run", "--help"])
    assert result.exit_code == 0 and "--dry-run" in result.output and "Examples" in result.output


def test_the_published_schema_file_is_current() -> None:
    from core.specs import run_spec_schema

    published = Path(__file__).resolve().parents[3] / "docs" / "run-spec.schema.json"
    assert json.loads(published.read_text()) == run_spec_schema(), (
        "docs/run-spec.schema.json is stale: regenerate it with `acc schema`"
    )


def test_following_a_run_rides_out_an_api_restart() -> None:
    from rich.console import Console

    from cli.runs import ApiUnreachable, riding_out_restarts

    calls: list[int] = []

    def flaky() -> dict[str, str]:
        calls.append(1)
        if len(calls) < 3:
            raise ApiUnreachable("the acc API is not reachable")
        return {"status": "running"}

    console = Console(record=True, width=120)
    assert riding_out_restarts(flaky, console) == {"status": "running"}
    assert len(calls) == 3
    assert console.export_text().count("API unreachable; reconnecting") == 2


def test_step_through_adds_an_approval_to_every_step() -> None:
    from cli.run_commands import _step_through
    from core.specs import parse_spec

    spec = parse_spec(
        {"name": "x", "steps": [{"name": "a", "agent": {"backend": "shell", "command": "echo"}}]}
    )
    stepped = parse_spec(_step_through(spec.model_dump(mode="json")))
    assert stepped.steps[0].approval is not None  # type: ignore[union-attr]
