"""The terminal report: suggestions grouped by file, most severe first within a line,
then the skipped files and a one-line summary."""

from __future__ import annotations

from collections import defaultdict

from rich.console import Console
from rich.markup import escape

from review.models import Report

STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def render(report: Report, console: Console, *, explain: bool = True) -> None:
    by_path = defaultdict(list)
    for s in report.suggestions:
        by_path[s.path].append(s)
    for path in sorted(by_path):
        console.print(f"[bold]{escape(path)}[/]")
        for s in by_path[path]:
            cwe = f" {s.cwe}" if s.cwe else ""
            tested = {None: "", True: " · tested", False: " · untested"}[s.covered]
            console.print(
                f"  {s.line}:{s.column} [{STYLE[s.severity]}]{s.severity}[/] "
                f"{escape(s.message)} [dim]{s.rule_id} · {s.category}{cwe} · "
                f"confidence {s.confidence:.2f}{tested} · priority {s.priority}[/]",
                highlight=False,
            )
            if explain and s.explanation:
                console.print(f"      [dim]why:[/] {escape(s.explanation)}", highlight=False)
            if s.replacement is not None:
                console.print(
                    f"      [green]fix:[/] {escape(s.snippet)} -> {escape(s.replacement)}",
                    highlight=False,
                )
            elif explain and s.alternatives:
                console.print(f"      [dim]try:[/] {escape(s.alternatives[0])}", highlight=False)
    for item in report.skipped:
        console.print(f"[dim]skipped {escape(item.path)}: {escape(item.reason)}[/]")
    for error in report.errors:
        console.print(f"[yellow]note:[/] {escape(error)}")
    counts = report.counts()
    summary = ", ".join(f"{counts[k]} {k}" for k in ("error", "warning", "info") if k in counts)
    fixable = sum(1 for s in report.suggestions if s.replacement is not None)
    scope = f" (changes since {report.diff_ref})" if report.diff_ref else ""
    scope = " (staged changes)" if report.staged else scope
    console.print(
        f"{len(report.files)} files{scope}, {report.rules} rules, "
        f"{len(report.suggestions)} suggestions"
        + (f" ({summary}; {fixable} with a fix)" if report.suggestions else "")
        + f", {len(report.skipped)} skipped, {report.duration_ms / 1000:.1f} s"
        + (f", LLM pass: {report.llm_model}" if report.llm_model else ""),
        highlight=False,
    )
