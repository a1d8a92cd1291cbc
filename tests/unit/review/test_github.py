"""`acc review --diff REF --github-pr owner/repo#N`: one pull-request review with inline
comments on the changed lines, posted through the REST API to a local stand-in of GitHub
that records what it was sent."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.support.github_api import GitHubApiStandIn

pytestmark = pytest.mark.unit
runner = CliRunner()
BASE = """import yaml


def load(text):
    return yaml.safe_load(text)
"""
HEAD = """import hashlib
import yaml


def load(text):
    return yaml.load(text)


def digest(data):
    return hashlib.md5(data).hexdigest()
"""


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


@pytest.fixture
def pull(tmp_path: Path) -> tuple[Path, str, str]:
    """A repository whose HEAD (the pull request) adds yaml.load and MD5 to its base."""
    repo = tmp_path / "shop"
    (repo / "src").mkdir(parents=True)
    git(repo, "init", "-q")
    (repo / "src" / "loader.py").write_text(BASE)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    base = git(repo, "rev-parse", "HEAD")
    (repo / "src" / "loader.py").write_text(HEAD)
    git(repo, "commit", "-qam", "change")
    return repo, base, git(repo, "rev-parse", "HEAD")


def test_posts_one_review_with_inline_comments_on_the_changed_lines(
    pull: tuple[Path, str, str],
) -> None:
    repo, base, head = pull
    with GitHubApiStandIn() as github:
        env = {"ACC_GITHUB_TOKEN": "ghs_test_token", "ACC_GITHUB_API_URL": github.url}
        result = runner.invoke(
            app,
            [
                "review",
                "src",
                "--root",
                str(repo),
                "--diff",
                base,
                "--github-pr",
                "acme/shop#7",
                "--fail-on",
                "never",
            ],
            env=env,
        )
    assert result.exit_code == 0, result.output
    assert len(github.requests) == 1
    sent = github.requests[0]
    assert sent.method == "POST"
    assert sent.path == "/repos/acme/shop/pulls/7/reviews"
    assert sent.headers["authorization"] == "Bearer ghs_test_token"
    assert sent.headers["accept"] == "application/vnd.github+json"
    body = sent.body
    assert body["commit_id"] == head
    assert body["event"] == "COMMENT"
    by_line = {c["line"]: c for c in body["comments"]}
    assert {c["path"] for c in body["comments"]} == {"src/loader.py"}
    assert all(c["side"] == "RIGHT" for c in body["comments"])
    unsafe = by_line[6]
    assert "python.security.yaml-unsafe-load" in unsafe["body"]
    assert "CWE-502" in unsafe["body"]
    assert "```suggestion\n    return yaml.safe_load(text)\n```" in unsafe["body"]
    assert "python.security.weak-hash" in by_line[10]["body"]
    assert set(by_line) == {6, 10}
    assert body["body"].startswith(
        f"acc review: 2 suggestions (1 error, 1 warning) on the changes since {base}"
    )
    assert "posted a review with" in result.output


def test_github_refusals_and_missing_settings_are_messages(pull: tuple[Path, str, str]) -> None:
    repo, base, _ = pull
    with GitHubApiStandIn(status=401) as github:
        env = {"ACC_GITHUB_TOKEN": "wrong", "ACC_GITHUB_API_URL": github.url}
        refused = runner.invoke(
            app,
            ["review", "--root", str(repo), "--diff", base, "--github-pr", "acme/shop#7"],
            env=env,
        )
    assert refused.exit_code == 2
    assert "401" in refused.output and "ACC_GITHUB_TOKEN" in refused.output
    no_diff = runner.invoke(
        app,
        ["review", "--root", str(repo), "--github-pr", "acme/shop#7"],
        env={"ACC_GITHUB_TOKEN": "x"},
    )
    assert no_diff.exit_code == 2 and "--diff" in no_diff.output
    no_token = runner.invoke(
        app,
        ["review", "--root", str(repo), "--diff", base, "--github-pr", "acme/shop#7"],
        env={"ACC_GITHUB_TOKEN": ""},
    )
    assert no_token.exit_code == 2 and "ACC_GITHUB_TOKEN" in no_token.output
    bad = runner.invoke(
        app,
        ["review", "--root", str(repo), "--diff", base, "--github-pr", "shop-7"],
        env={"ACC_GITHUB_TOKEN": "x"},
    )
    assert bad.exit_code == 2 and "owner/repo#123" in bad.output
