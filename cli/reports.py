"""`acc report`: a metrics report over a time range, through the API."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from analytics.reports import Report, to_csv
from cli.output import console, fail, settings
from cli.runs import ApiClient, CliError


def report(
    range_: Annotated[
        str | None, typer.Option("--range", help="15m, 1h, 24h, 7d or 30d (default 1h)")
    ] = None,
    start: Annotated[str | None, typer.Option(help="Custom start, ISO 8601")] = None,
    end: Annotated[str | None, typer.Option(help="Custom end, ISO 8601 (default now)")] = None,
    format_: Annotated[str, typer.Option("--format", help="csv, json or pdf")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write")] = None,
) -> None:
    """A report of the tenant's runs, steps, cost, tokens and quality per step of a range:
    CSV rows, JSON (with the agent and pattern summaries), or a PDF with charts.

    [bold]Examples[/]
      acc report --range 7d -o week.csv
      acc report --start 2026-11-01 --end 2026-12-01 --format json
      acc report --range 30d --format pdf -o month.pdf
    """
    if format_ not in ("json", "csv", "pdf"):
        raise fail(f"--format {format_!r}: csv, json or pdf")
    if format_ == "pdf" and output is None and sys.stdout.isatty():
        raise fail("a PDF is not for the terminal: add -o report.pdf (or redirect stdout)")
    params = {k: v for k, v in {"range": range_, "start": start, "end": end}.items() if v}
    try:
        with ApiClient.of(settings()) as api:
            if format_ == "pdf":
                document = api.send("GET", "/v1/reports", params={**params, "format": "pdf"})
                return _write_pdf(document.content, output)
            body = api.request("GET", "/v1/reports", params=params)
    except CliError as exc:
        raise fail(str(exc)) from None
    built = Report.model_validate(body)
    text = to_csv(built) if format_ == "csv" else json.dumps(body, indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        console.print(f"Report of {len(built.rows)} rows written to {output}")


def _write_pdf(content: bytes, output: Path | None) -> None:
    if output is None:
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
    else:
        output.write_bytes(content)
        console.print(f"PDF report ({len(content) // 1024} KiB) written to {output}")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
