"""`acc review [paths] [--diff REF] [--staged] [--format text|json|sarif]`: the review
engine on this machine, no stack needed. Exits 1 when a suggestion at or above
`--fail-on` remains (so it gates a commit or a CI job), 2 on bad input."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from cli.output import console, err_console, fail
from cli.output import settings as settings_
from core.settings import Settings
from review import diffs, github, patches, semgrep, standards, text
from review.engine import ReviewInputError, review
from review.github import PullRequest
from review.models import SEVERITY_RANK, Report, ReviewRequest
from review.sarif import to_sarif


class Format(StrEnum):
    text = "text"
    json = "json"
    sarif = "sarif"


class FailOn(StrEnum):
    error = "error"
    warning = "warning"
    info = "info"
    never = "never"


def review_command(
    paths: Annotated[list[str] | None, typer.Argument(help="Files or folders (default: .)")] = None,
    diff: Annotated[
        str | None, typer.Option("--diff", help="Only lines changed since this git ref")
    ] = None,
    staged: Annotated[bool, typer.Option("--staged", help="Only lines staged for commit")] = False,
    output_format: Annotated[Format, typer.Option("--format", "-f")] = Format.text,
    root: Annotated[
        Path | None, typer.Option(help="Root the paths are relative to (default: the cwd)")
    ] = None,
    fail_on: Annotated[
        FailOn, typer.Option(help="Exit 1 when a suggestion this severe or worse remains")
    ] = FailOn.error,
    min_confidence: Annotated[float, typer.Option(min=0, max=1)] = 0.0,
    patch: Annotated[
        Path | None, typer.Option(help="Write every available fix as one git-apply-able patch")
    ] = None,
    standards_file: Annotated[
        Path | None, typer.Option("--standards", help="Team standards file")
    ] = None,
    coverage: Annotated[
        Path | None,
        typer.Option(help="Cobertura coverage.xml: mark findings tested or not, rank by it"),
    ] = None,
    github_pr: Annotated[
        str | None,
        typer.Option(
            "--github-pr",
            help="Post the findings as a review with inline comments on owner/repo#N "
            "(with --diff; ACC_GITHUB_TOKEN)",
        ),
    ] = None,
    use_llm: Annotated[
        bool | None,
        typer.Option(
            "--llm/--no-llm",
            help="Add an LLM pass (default: ACC_REVIEW_LLM; model: ACC_REVIEW_LLM_MODEL)",
        ),
    ] = None,
    lsp: Annotated[
        bool, typer.Option("--lsp", help="Serve the Language Server Protocol on stdio")
    ] = False,
) -> None:
    """Review code: security, correctness, performance and style findings with a
    confidence, an explanation and a fix where there is one.

    [bold]Examples[/]
      acc review                      # the whole tree under the current folder
      acc review src --diff main      # only what changed since main
      acc review --staged             # what is about to be committed
      acc review -f sarif > review.sarif
      acc review --coverage coverage.xml    # untested findings first
      acc review --diff origin/main --github-pr acme/shop#42
      acc review --lsp                # a language server for VS Code, Neovim...
    """
    settings = settings_()
    if lsp:
        from review import lsp as language_server

        language_server.serve(settings)
        return
    base = (root or Path.cwd()).resolve()
    if diff is not None and staged:
        raise fail("--diff and --staged cannot be combined: pick one", code=2)
    pull_request = _pull_request(github_pr, diff, settings)
    llm_model = _llm_model(settings, use_llm)
    try:
        team = standards.for_root(base, standards_file or settings.REVIEW_STANDARDS_FILE)
        report = review(
            ReviewRequest(
                root=str(base),
                paths=paths or ["."],
                diff_ref=diff,
                staged=staged,
                min_confidence=min_confidence,
                coverage=None if coverage is None else str(coverage.resolve()),
            ),
            standards=team,
            semgrep_binary=settings.REVIEW_SEMGREP,
            max_file_bytes=settings.REVIEW_MAX_FILE_BYTES,
            timeout=settings.REVIEW_TIMEOUT_SECONDS,
        )
    except (ReviewInputError, standards.StandardsError) as exc:
        raise fail(str(exc), code=2) from None
    except semgrep.SemgrepUnavailable as exc:
        raise fail(str(exc), code=2) from None
    if llm_model is not None:
        from cli.review_llm import add_llm_suggestions  # the SDKs load only when asked

        add_llm_suggestions(report, settings, llm_model)
    if output_format is Format.json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    elif output_format is Format.sarif:
        sys.stdout.write(json.dumps(to_sarif(report), indent=2) + "\n")
    else:
        text.render(report, console)
    if patch is not None:
        combined, left_out = patches.combine(base, report.suggestions)
        patch.write_text(combined)
        fixes = len([s for s in report.suggestions if s.replacement is not None])
        err_console.print(
            f"wrote {patch}: {fixes - len([s for s in left_out if s.replacement])} fixes "
            f"(apply with: git apply {patch})",
            highlight=False,
        )
    if pull_request is not None and diff is not None:
        _post_review(report, pull_request, base, diff, settings)
    if fail_on is not FailOn.never and any(
        SEVERITY_RANK[s.severity] >= SEVERITY_RANK[fail_on.value] for s in report.suggestions
    ):
        raise typer.Exit(1)


def _llm_model(settings: Settings, wanted: bool | None) -> str | None:
    if not (settings.REVIEW_LLM if wanted is None else wanted):
        return None
    if not settings.REVIEW_LLM_MODEL:
        raise fail("the LLM pass needs a model: set ACC_REVIEW_LLM_MODEL", code=2)
    return settings.REVIEW_LLM_MODEL


def _pull_request(text: str | None, diff: str | None, settings: Settings) -> PullRequest | None:
    if text is None:
        return None
    if diff is None:
        raise fail("--github-pr comments on changed lines: give the base with --diff REF", 2)
    if settings.GITHUB_TOKEN is None or not settings.GITHUB_TOKEN.get_secret_value():
        raise fail("--github-pr needs a token: set ACC_GITHUB_TOKEN", code=2)
    try:
        return PullRequest.parse(text)
    except ValueError as exc:
        raise fail(str(exc), code=2) from None


def _post_review(
    report: Report, target: PullRequest, base: Path, diff: str, settings: Settings
) -> None:
    assert settings.GITHUB_TOKEN is not None
    try:
        changed = diffs.changed_lines(base, diff)
        payload = github.build(report, changed, diffs.head_commit(base), diffs.toplevel(base))
        posted = github.post(
            payload,
            target,
            api_url=settings.GITHUB_API_URL,
            token=settings.GITHUB_TOKEN.get_secret_value(),
        )
    except (diffs.DiffError, github.GitHubError) as exc:
        raise fail(str(exc), code=2) from None
    err_console.print(
        f"posted a review with {len(payload['comments'])} comments to "
        f"{target.owner}/{target.repo}#{target.number}: {posted.get('html_url', posted.get('id'))}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    app.command("review")(review_command)
