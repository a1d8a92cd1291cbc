"""`acc review`: the terminal report, JSON, SARIF 2.1.0 valid against the OASIS schema
(vendored in tests/support/schemas), the exit code that gates a commit, a combined patch,
and bad input answered with a message instead of a traceback."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from jsonschema import Draft4Validator
from typer.testing import CliRunner

from cli.main import app

pytestmark = pytest.mark.unit
runner = CliRunner()
SCHEMA = Path(__file__).parents[2] / "support" / "schemas" / "sarif-2.1.0-rtm.5.json"
APP = """import subprocess
import yaml


def load(text, name):
    subprocess.run("ls " + name, shell=True)
    return yaml.load(text)
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "web.ts").write_text("export function show(el: any, c: string) {\n  return c;\n}\n")
    (tmp_path / "data.bin").write_bytes(b"\0\1\2" * 10)
    return tmp_path


def test_sarif_output_is_valid_sarif_2_1_0_with_fixes_and_rule_metadata(tree: Path) -> None:
    result = runner.invoke(app, ["review", "--root", str(tree), "--format", "sarif"])
    assert result.exit_code == 1, result.output  # errors remain: the gate fails
    log = json.loads(result.stdout)
    Draft4Validator(json.loads(SCHEMA.read_text())).validate(log)
    run = log["runs"][0]
    by_rule = {r["ruleId"]: r for r in run["results"]}
    unsafe = by_rule["python.security.yaml-unsafe-load"]
    assert unsafe["level"] == "error"
    assert unsafe["locations"][0]["physicalLocation"]["region"]["startLine"] == 7
    change = unsafe["fixes"][0]["artifactChanges"][0]
    assert change["replacements"][0]["insertedContent"]["text"] == "yaml.safe_load(text)"
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert rules["python.security.subprocess-shell-true"]["properties"]["cwe"] == "CWE-78"
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert any("data.bin: binary" in n["message"]["text"] for n in notes)


def test_json_and_text_formats_and_the_exit_code_follow_fail_on(tree: Path) -> None:
    result = runner.invoke(app, ["review", "--root", str(tree), "-f", "json", "--fail-on", "never"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {s["rule_id"] for s in report["suggestions"]} >= {
        "python.security.yaml-unsafe-load",
        "python.security.subprocess-shell-true",
        "typescript.style.any-type",
    }
    text = runner.invoke(app, ["review", "app.py", "--root", str(tree)])
    assert text.exit_code == 1
    assert "yaml.load(text) -> yaml.safe_load(text)" in text.stdout
    assert "CWE-502" in text.stdout and "data.bin" not in text.stdout
    quiet = runner.invoke(app, ["review", "web.ts", "--root", str(tree)])
    assert quiet.exit_code == 0, quiet.output  # only an info finding: below --fail-on error


def test_patch_option_writes_a_patch_git_applies(tree: Path, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    patch = tmp_path_factory.mktemp("out") / "fixes.patch"
    result = runner.invoke(
        app, ["review", "--root", str(tree), "--patch", str(patch), "--fail-on", "never"]
    )
    assert result.exit_code == 0, result.output
    subprocess.run(["git", "init", "-q", str(tree)], check=True)
    subprocess.run(["git", "-C", str(tree), "apply", str(patch)], check=True)
    assert "yaml.safe_load(text)" in (tree / "app.py").read_text()


def test_bad_input_is_a_message_with_the_fix(tree: Path) -> None:
    both = runner.invoke(app, ["review", "--root", str(tree), "--diff", "HEAD", "--staged"])
    assert both.exit_code == 2 and "pick one" in both.output
    outside = runner.invoke(app, ["review", "../", "--root", str(tree)])
    assert outside.exit_code == 2 and "outside" in outside.output
    not_git = runner.invoke(app, ["review", "--root", str(tree), "--diff", "main"])
    assert not_git.exit_code == 2 and "git" in not_git.output
    assert "Traceback" not in both.output + outside.output + not_git.output
