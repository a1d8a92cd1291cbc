"""The shipped rule packs: every rule declares what the suggestions need, every pack has
`# ruleid:` / `# ok:` tests beside it, and `semgrep --test` passes them all."""

from __future__ import annotations

import re
import subprocess

import pytest

from review import semgrep
from review.models import CATEGORIES
from review.rules import RULES_DIR, load_packs, pack_files

pytestmark = pytest.mark.unit
LANGUAGES = {"python", "javascript", "typescript", "go", "java"}
SECURITY_CWES = {"CWE-78", "CWE-89", "CWE-95", "CWE-502", "CWE-22", "CWE-918", "CWE-327", "CWE-79"}


def test_every_rule_carries_category_severity_confidence_and_an_explanation() -> None:
    rules, _ = load_packs()
    assert len(rules) >= 60
    for rule in rules:
        assert rule.category in CATEGORIES
        assert 0 < rule.confidence <= 1, rule.id
        assert rule.explanation, rule.id
        assert rule.alternatives, rule.id
        if rule.category == "security":
            assert rule.cwe and rule.cwe.startswith("CWE-"), rule.id


def test_the_packs_cover_each_category_for_each_language_and_the_security_classes() -> None:
    rules, _ = load_packs()
    covered = {(lang, r.category) for r in rules for lang in r.languages}
    for lang in ("python", "javascript", "go", "java"):
        for category in CATEGORIES:
            assert (lang, category) in covered, (lang, category)
    assert "typescript" in {lang for r in rules for lang in r.languages}
    assert {r.cwe for r in rules} >= SECURITY_CWES
    assert any(r.pack.startswith("secrets/") for r in rules)


def test_every_rule_has_a_positive_test_case() -> None:
    rules, _ = load_packs()
    annotated: set[str] = set()
    for pack in pack_files():
        for test in pack.parent.glob(pack.stem + ".*"):
            if test.suffix != ".yaml":
                annotated |= set(re.findall(r"ruleid:\s*([\w.-]+)", test.read_text()))
    missing = {r.id for r in rules} - annotated
    assert not missing, f"rules without a `# ruleid:` test: {sorted(missing)}"


def test_semgrep_rule_tests_pass() -> None:
    done = subprocess.run(
        [semgrep.executable(), "scan", "--experimental", "--test", "--metrics=off", "."],
        cwd=RULES_DIR,
        env=semgrep.environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    passed = re.search(r"(\d+)/(\d+): ✓ All tests passed", output)
    assert passed is not None, output
    assert int(passed.group(1)) >= len(load_packs()[0])


def test_semgrep_is_the_pinned_version() -> None:
    done = subprocess.run(
        [semgrep.executable(), "--experimental", "--version"],
        env=semgrep.environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip() == semgrep.PINNED_VERSION
