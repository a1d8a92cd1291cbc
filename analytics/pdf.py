"""Reports as PDF: the title and range, totals, four charts over the range (runs completed
and failed, completion rate and quality, mean step time, cost), and the agent and pattern
tables. Charts are drawn by matplotlib's Agg backend (no display needed) with its
object API (no pyplot global state, so renders may run in threads), and laid out with
fpdf2. The text is real PDF text: a reader can search and copy it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime

from analytics.reports import Report

CHARTS: tuple[tuple[str, tuple[str, ...], str], ...] = (  # title, columns, kind
    ("Runs per step", ("runs_completed", "runs_failed"), "bar"),
    ("Completion rate and quality", ("completion_rate", "quality"), "line"),
    ("Mean step time (ms)", ("step_ms_avg",), "line"),
    ("Cost (USD)", ("cost_usd",), "bar"),
)
COLORS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea")
CHART_W, CHART_H = 90.0, 60.0  # mm, two charts a row on A4
TOP = 52.0  # mm: where the charts start on the first page


def _latin(text: str) -> str:
    """fpdf2's core fonts are Latin-1: anything else is replaced, never an error."""
    return text.encode("latin-1", "replace").decode("latin-1")


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def chart_png(report: Report, title: str, columns: Sequence[str], kind: str) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    # matplotlib's dates are days since its epoch, 1970-01-01 by default
    days = [datetime.fromisoformat(str(row["time"])).timestamp() / 86400 for row in report.rows]
    figure = Figure(figsize=(CHART_W / 25.4, CHART_H / 25.4), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    width = report.step_seconds / 86400 * (0.8 / max(1, len(columns)))
    for i, column in enumerate(columns):
        values = [row.get(column) for row in report.rows]
        ys = [float(v) if isinstance(v, int | float) else float("nan") for v in values]
        label = column.replace("_", " ")
        if kind == "bar":
            xs = [d + i * width for d in days]
            axes.bar(xs, ys, width=width, color=COLORS[i], label=label, align="edge")
        else:
            axes.plot(days, ys, color=COLORS[i], label=label, marker=".", linewidth=1.2)
    axes.xaxis_date()
    locator = AutoDateLocator(maxticks=6)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    axes.set_title(title, fontsize=8)
    axes.tick_params(labelsize=6)
    axes.xaxis.get_offset_text().set_fontsize(6)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=6, loc="upper left")
    # fixed margins: tight_layout would draw every chart once more to measure it
    figure.subplots_adjust(left=0.1, right=0.97, top=0.9, bottom=0.14)
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def _totals(report: Report) -> list[tuple[str, str]]:
    def total(column: str) -> float:
        return sum(float(v) for row in report.rows if isinstance(v := row.get(column), int | float))

    ended = total("runs_completed") + total("runs_failed") + total("runs_cancelled")
    return [
        ("Runs started", f"{total('runs_started'):g}"),
        ("Runs completed", f"{total('runs_completed'):g}"),
        ("Runs failed", f"{total('runs_failed'):g}"),
        ("Completion rate", f"{total('runs_completed') / ended:.1%}" if ended else "-"),
        ("Steps completed", f"{total('steps_completed'):g}"),
        ("Cost (USD)", f"{total('cost_usd'):.4f}"),
        ("Tokens", f"{total('tokens'):g}"),
    ]


def to_pdf(report: Report) -> bytes:
    from fpdf import FPDF

    title = f"acc report: {report.tenant}"
    pdf = FPDF(format="A4")
    pdf.set_title(_latin(title))
    pdf.set_creator("acc")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 9, _latin(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    step = (
        f"{report.step_seconds // 60} min"
        if report.step_seconds < 3600
        else (f"{report.step_seconds / 3600:g} h")
    )
    pdf.cell(
        0, 6, f"{_when(report.start)} to {_when(report.end)}, one point per {step}",
        new_x="LMARGIN", new_y="NEXT",
    )  # fmt: skip
    pdf.ln(2)
    pdf.set_font("Helvetica", "", 8)
    totals = _totals(report)
    for left, right in zip(totals[::2], [*totals[1::2], ("", "")], strict=True):
        for name, value in (left, right):
            pdf.cell(30, 5, name, border="B" if name else 0)
            pdf.cell(55, 5, value, border="B" if name else 0)
        pdf.ln(5)
    for i, (chart, columns, kind) in enumerate(CHARTS):
        x = pdf.l_margin + (i % 2) * (CHART_W + 5)
        y = TOP + (i // 2) * (CHART_H + 4)
        pdf.image(io.BytesIO(chart_png(report, chart, columns, kind)), x, y, CHART_W, CHART_H)
    pdf.set_y(TOP + 2 * (CHART_H + 4) + 2)
    _table(
        pdf,
        "Agents",
        ["agent", "success", "cost/success", "mean ms", "score"],
        [
            [
                a.agent,
                _pct(a.success_rate),
                _num(a.cost_per_success),
                _num(a.mean_ms),
                _num(a.score),
            ]
            for a in report.agents
        ],
    )
    _table(
        pdf,
        "Patterns",
        ["pattern", "runs", "completion", "cost/run", "quality"],
        [
            [p.pattern, str(p.runs_started), _pct(p.completion_rate), _num(p.cost_per_run),
             _num(p.quality)]
            for p in report.patterns
        ],
    )  # fmt: skip
    return bytes(pdf.output())


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _table(pdf: object, title: str, header: list[str], rows: list[list[str]]) -> None:
    from fpdf import FPDF

    assert isinstance(pdf, FPDF)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    widths = [70, 28, 30, 30, 22]
    if not rows:
        pdf.cell(0, 5, "nothing in this range", new_x="LMARGIN", new_y="NEXT")
        return
    for line, bold in [(header, True), *((r, False) for r in rows[:40])]:
        pdf.set_font("Helvetica", "B" if bold else "", 8)
        for width, text in zip(widths, line, strict=True):
            pdf.cell(width, 5, _latin(text)[:60], border="B")
        pdf.ln(5)
