"""The engine on real trees: findings with fixes, bad files skipped with their reason,
incremental review of a git diff, the team's standards, and accepted fixes combined into
one patch that `git apply` takes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from review import patches, semgrep
from review.engine import ReviewInputError, review
from review.models import ReviewRequest
from review.rules import load_packs
from review.standards import Standards, StandardsError, load

pytestmark = pytest.mark.unit

VULNERABLE = """import hashlib
import yaml


def load(text):
    return yaml.load(text)


def digest(data):
    return hashlib.md5(data).hexdigest()
"""
COMPLEX = (
    "def tangled(a, b, c, d):\n"
    + "".join(f"    if a == {i} or b == {i}:\n        c += {i}\n" for i in range(12))
    + "    return c\n"
)


def git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    done = subprocess.run(
        ["git", "-C", str(root), *args], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def rule_ids(report_suggestions: list) -> set[str]:  # type: ignore[type-arg]
    return {s.rule_id for s in report_suggestions}


def test_a_tree_with_bad_files_is_reviewed_and_each_bad_file_skipped_with_its_reason(
    tmp_path: Path,
) -> None:
    root = tmp_path / "tree"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "app.py").write_text(VULNERABLE)
    (root / "pkg" / "tangled.py").write_text(COMPLEX)
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(200))
    (root / "latin1.txt").write_bytes("caf\xe9 ".encode("latin-1") * 50)
    (root / "huge.py").write_text("x = 1\n" * 5000)
    (root / "broken.py").write_text("def broken(:\n    eval(data)\n}}}{{{ ]]] \n")
    outside = tmp_path / "secret.py"
    outside.write_text("password = 'hunter2hunter2'\n")
    (root / "escape.py").symlink_to(outside)
    os.mkfifo(root / "pipe")
    (root / "node_modules").mkdir()
    (root / "node_modules" / "dep.js").write_text("eval(x)\n")

    report = review(ReviewRequest(root=str(root)), max_file_bytes=20_000)

    skipped = {s.path: s.reason for s in report.skipped}
    assert skipped["image.png"] == "binary"
    assert skipped["latin1.txt"] == "binary (not UTF-8 text)"
    assert skipped["huge.py"].startswith("too large: 30000 bytes")
    assert skipped["escape.py"] == "symlink out of the tree"
    assert skipped["pipe"] == "not a regular file"
    assert skipped["broken.py"].startswith("partly parsed: Syntax error")
    assert "node_modules/dep.js" not in report.files
    found = {(s.path, s.rule_id) for s in report.suggestions}
    assert ("broken.py", "python.security.eval") in found  # what did parse is still reviewed
    assert ("pkg/app.py", "python.security.yaml-unsafe-load") in found
    assert ("pkg/app.py", "python.security.weak-hash") in found
    assert ("pkg/tangled.py", "complexity.cyclomatic") in found
    unsafe = next(s for s in report.suggestions if s.rule_id.endswith("yaml-unsafe-load"))
    assert unsafe.line == 6 and unsafe.cwe == "CWE-502" and unsafe.category == "security"
    assert unsafe.replacement == "yaml.safe_load(text)" and unsafe.snippet == "yaml.load(text)"
    assert unsafe.explanation and unsafe.alternatives and unsafe.confidence == 0.85
    assert unsafe.patch is not None and "+    return yaml.safe_load(text)" in unsafe.patch
    tangled = next(f for f in report.complexity if f.name == "tangled")
    assert tangled.cyclomatic == 25 and tangled.cognitive is not None


def test_accepted_fixes_combine_into_one_patch_git_applies(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "app.py").write_text(VULNERABLE)
    (root / "web.js").write_text("function f(el, c) {\n  el.innerHTML = c;\n  var n = 1;\n}\n")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-qm", "start")
    report = review(ReviewRequest(root=str(root)))
    fixable = [s for s in report.suggestions if s.replacement is not None]
    assert {s.rule_id for s in fixable} >= {
        "python.security.yaml-unsafe-load",
        "python.security.weak-hash",
        "javascript.security.inner-html",
        "javascript.style.var-declaration",
    }
    patch, left_out = patches.combine(root, fixable)
    assert left_out == []
    (tmp_path / "fixes.patch").write_text(patch)
    git(root, "apply", "--check", str(tmp_path / "fixes.patch"))
    git(root, "apply", str(tmp_path / "fixes.patch"))
    assert "yaml.safe_load(text)" in (root / "app.py").read_text()
    assert "hashlib.sha256(data)" in (root / "app.py").read_text()
    assert "el.textContent = c;" in (root / "web.js").read_text()
    again = review(ReviewRequest(root=str(root)))
    assert not [s for s in again.suggestions if s.replacement is not None]


def test_overlapping_fixes_keep_the_first_and_report_the_rest() -> None:
    after, conflicts = patches.apply_fixes(b"abcdef", [(0, 3, "X"), (2, 4, "Y"), (4, 6, "Z")])
    assert after == b"XdZ" and conflicts == [1]


def test_diff_mode_reviews_only_the_changed_lines_and_new_files(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "app.py").write_text("import yaml\n\n\ndef old(text):\n    return yaml.load(text)\n")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-qm", "start")
    with (root / "app.py").open("a") as handle:
        handle.write("\n\ndef new(cmd):\n    return eval(cmd)\n")
    (root / "extra.py").write_text("import pickle\n\npickle.loads(b'')\n")

    changed = review(ReviewRequest(root=str(root), diff_ref="HEAD"))
    assert rule_ids(changed.suggestions) == {"python.security.eval", "python.security.pickle-load"}
    assert set(changed.files) == {"app.py", "extra.py"}

    git(root, "add", "extra.py")
    staged = review(ReviewRequest(root=str(root), staged=True))
    assert rule_ids(staged.suggestions) == {"python.security.pickle-load"}

    with pytest.raises(ReviewInputError, match="no-such-ref"):
        review(ReviewRequest(root=str(root), diff_ref="no-such-ref"))


def test_standards_turn_rules_off_change_severities_and_filter(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(VULNERABLE + COMPLEX)
    standards = Standards(
        disabled=["python.security.weak-*"],
        severity={"python.security.yaml-unsafe-load": "warning"},
        max_cyclomatic=30,
        max_cognitive=100,
    )
    report = review(ReviewRequest(root=str(tmp_path)), standards=standards)
    assert rule_ids(report.suggestions) == {"python.security.yaml-unsafe-load"}
    assert report.suggestions[0].severity == "warning"
    only_errors = review(
        ReviewRequest(root=str(tmp_path), min_severity="error"), standards=standards
    )
    assert only_errors.suggestions == []
    (tmp_path / "team.yaml").write_text("disabled: [x]\nmax_cyclomatic: zero\n")
    with pytest.raises(StandardsError, match="max_cyclomatic"):
        load(tmp_path / "team.yaml")


def test_paths_outside_the_root_are_refused(tmp_path: Path) -> None:
    (tmp_path / "inside").mkdir()
    with pytest.raises(ReviewInputError, match="outside"):
        review(ReviewRequest(root=str(tmp_path / "inside"), paths=["../"]))
    with pytest.raises(ReviewInputError, match="not a directory"):
        review(ReviewRequest(root=str(tmp_path / "missing")))


def test_semgrep_runs_its_native_command_line_with_fixes_and_no_size_cap() -> None:
    # The classic CLI exits 2 without a report on the float confidence every shipped
    # rule carries, so the review must keep running the native one.
    _, raws = load_packs()
    assert all(isinstance(raw["metadata"]["confidence"], float) for raw in raws)
    argv = semgrep.command("semgrep", Path("rules.yaml"), [Path("a.py"), Path("-b.py")], 0.5)
    assert argv[:3] == ["semgrep", "scan", "--experimental"]
    flags = set(argv[3 : argv.index("--")])
    assert {"--json", "--autofix", "--dryrun", "--no-git-ignore", "--max-target-bytes=0"} <= flags
    assert {"--timeout=1", "--config=rules.yaml"} <= flags
    assert argv[argv.index("--") + 1 :] == ["a.py", "-b.py"]
