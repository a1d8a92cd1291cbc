"""`acc review --coverage coverage.xml`: a real Cobertura report written by coverage.py
over a small sample marks each finding tested or not and moves its priority."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app

pytestmark = pytest.mark.unit
runner = CliRunner()
APP = """import hashlib
import yaml


def parse(text):
    return yaml.load(text)


def digest(data):
    return hashlib.md5(data).hexdigest()
"""
RUN = """import app

try:
    app.parse("a: 1")
except TypeError:  # PyYAML 6 wants a Loader: the line ran all the same
    pass
"""


@pytest.fixture
def measured(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "run.py").write_text(RUN)
    for args in (
        ["run", "--data-file=.cov", "run.py"],
        ["xml", "--data-file=.cov", "-o", "coverage.xml"],
    ):
        subprocess.run(
            [sys.executable, "-m", "coverage", *args],
            cwd=tmp_path,
            check=True,
            capture_output=True,
        )
    return tmp_path


def test_findings_are_marked_tested_or_not_and_ranked_by_it(measured: Path) -> None:
    args = ["review", "app.py", "--root", str(measured), "-f", "json", "--fail-on", "never"]
    plain = json.loads(runner.invoke(app, args).stdout)
    result = runner.invoke(app, [*args, "--coverage", str(measured / "coverage.xml")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["coverage"] == str(measured / "coverage.xml")
    before = {s["rule_id"]: s for s in plain["suggestions"]}
    after = {s["rule_id"]: s for s in report["suggestions"]}
    loaded = after["python.security.yaml-unsafe-load"]  # parse() ran
    hashed = after["python.security.weak-hash"]  # digest() never ran
    assert loaded["covered"] is True and hashed["covered"] is False
    assert before["python.security.yaml-unsafe-load"]["covered"] is None
    assert loaded["priority"] == before["python.security.yaml-unsafe-load"]["priority"] - 1
    assert hashed["priority"] == before["python.security.weak-hash"]["priority"] + 1
    text = runner.invoke(
        app, [*args[:4], "--fail-on", "never", "--coverage", str(measured / "coverage.xml")]
    )
    flat = " ".join(text.stdout.split())
    assert "· untested · priority" in flat and "· tested · priority" in flat


def test_an_unreadable_coverage_report_is_a_message(measured: Path) -> None:
    (measured / "bad.xml").write_text("<html>not coverage</html>")
    result = runner.invoke(
        app, ["review", "--root", str(measured), "--coverage", str(measured / "bad.xml")]
    )
    assert result.exit_code == 2 and "Cobertura" in result.output
    missing = runner.invoke(
        app, ["review", "--root", str(measured), "--coverage", str(measured / "no.xml")]
    )
    assert missing.exit_code == 2 and "cannot read coverage report" in missing.output
