"""The runs list with 10,000 runs in its history, in headless Chromium against a stack
`acc up` started in a temp dir: how soon the first rows show, how many rows the page
draws, how soon a search answers, and how smooth scrolling through 1,000 runs stays,
beside the raw API calls the page makes (measured in the same page).

The runs are written straight into the stack's runs projection (its SQLite file), as the
aggregator would from their events; the aggregator is running, so the API answers from it.

* first rows: navigation start to the first run's row in the page (cold context).
* rows drawn: `tr[data-run-id]` in the page: the virtualized list draws those in view.
* search: from typing `q` until every row drawn matches (includes the 250 ms the page
  waits for typing to pause).
* scroll: frames while the list is scrolled to its end, page after page, until 1,000 runs
  are loaded: the p95 time between frames (16.7 ms is 60 frames a second).
* baselines: `fetch('/v1/runs?limit=100')` (one page) and `?limit=1000` (the whole list the
  page read before it had pages) from the same page.

    .venv/bin/python benchmarks/runs_list.py --runs 10000 --loads 5
    .venv/bin/python benchmarks/runs_list.py --quick

Needs Chromium at /usr/bin/chromium and a built dashboard (bash scripts/web-build.sh).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _stack import AccStack, machine_info, percentile
from playwright.sync_api import Browser, sync_playwright
from rich.console import Console
from rich.table import Table
from sqlalchemy import insert

from analytics.sink import table_of
from analytics.tables import RunRecord
from core import db
from core.settings import load_settings

console = Console(soft_wrap=True)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
STATUSES = ("completed", "failed", "running", "cancelled")


async def write_runs(data_dir: Path, count: int) -> None:
    engine = db.create_engine(load_settings(DATA_DIR=data_dir))
    start = datetime.now(UTC) - timedelta(days=30)
    rows = [
        {
            "tenant": "default",
            "run_id": f"{'deploy' if i % 10 == 0 else 'nightly'}-{i:06d}",
            "name": "deploy" if i % 10 == 0 else "nightly",
            "pattern": "pipeline",
            "status": STATUSES[i % len(STATUSES)],
            "started_at": start + timedelta(seconds=i * 60),
            "ended_at": start + timedelta(seconds=i * 60 + 5),
            "updated_at": start,
        }
        for i in range(count)
    ]
    try:
        async with engine.begin() as conn:
            for first in range(0, count, 5000):
                await conn.execute(insert(table_of(RunRecord)), rows[first : first + 5000])
    finally:
        await engine.dispose()


FRAMES = """() => new Promise((resolve) => {
  const scroller = document.querySelector('[data-testid=runs-scroll]');
  const gaps = [];
  let last = performance.now();
  const started = last;
  const frame = (now) => {
    gaps.push(now - last);
    last = now;
    scroller.scrollTop += 400;
    const loaded = /^(\\d+) runs/.exec(document.querySelector('main p[aria-live]').textContent);
    if ((loaded && Number(loaded[1]) >= 1000) || now - started > 60000) {
      resolve({gaps, rows: document.querySelectorAll('tr[data-run-id]').length,
               loaded: loaded ? Number(loaded[1]) : 0});
    } else requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
})"""

FETCH = """async (limit) => {
  const key = localStorage.getItem('acc.apiKey');
  const t = performance.now();
  const r = await fetch('/v1/runs?limit=' + limit, {headers: {'X-API-Key': key}});
  await r.json();
  return [performance.now() - t, r.headers.get('X-Acc-List-Source')];
}"""


def load_once(browser: Browser, api: str, key: str) -> dict[str, Any]:
    context = browser.new_context(base_url=api, viewport={"width": 1280, "height": 900})
    context.add_init_script(f"localStorage.setItem('acc.apiKey', {key!r})")
    page = context.new_page()
    page.goto("/runs")
    page.wait_for_selector("tr[data-run-id]", timeout=30_000)
    first_rows: float = page.evaluate("performance.now()")
    drawn: int = page.locator("tr[data-run-id]").count()
    one_page, source = page.evaluate(FETCH, 100)
    whole, _ = page.evaluate(FETCH, 1000)
    began = time.perf_counter()
    page.get_by_label("Search").fill("deploy-0042")
    page.wait_for_function(
        "() => [...document.querySelectorAll('tr[data-run-id]')].length > 0 && "
        "[...document.querySelectorAll('tr[data-run-id]')]"
        ".every(r => r.dataset.runId.includes('deploy-0042'))",
        timeout=30_000,
    )
    search_ms = (time.perf_counter() - began) * 1000
    page.get_by_label("Search").fill("")
    page.wait_for_function(
        "() => document.querySelectorAll('tr[data-run-id]').length > 10", timeout=30_000
    )
    scrolled: dict[str, Any] = page.evaluate(FRAMES)
    context.close()
    return {
        "first_rows": first_rows,
        "drawn": drawn,
        "one_page": one_page,
        "whole": whole,
        "source": source,
        "search": search_ms,
        "frame_p95": percentile(scrolled["gaps"], 95),
        "scrolled_rows": scrolled["rows"],
        "loaded": scrolled["loaded"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 loads: a smoke test")
    args = parser.parse_args()
    loads_wanted = 2 if args.quick else args.loads
    with AccStack() as stack:
        stack.start()
        key = (stack.data_dir / "admin.key").read_text().strip()
        asyncio.run(write_runs(stack.data_dir, args.runs))
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            load_once(browser, stack.api_url, key)  # the browser's caches warm once
            loads = [load_once(browser, stack.api_url, key) for _ in range(loads_wanted)]
            browser.close()
    table = Table(title=f"Runs list, {args.runs:,} runs ({loads_wanted} loads, headless Chromium)")
    for column in ("measure", "p50", "p95", "max"):
        table.add_column(column, justify="right" if column != "measure" else "left")
    rows = {
        "baseline: GET /v1/runs?limit=100, one page (ms)": [x["one_page"] for x in loads],
        "baseline: GET /v1/runs?limit=1000, the old whole list (ms)": [x["whole"] for x in loads],
        "first rows shown, from navigation (ms)": [x["first_rows"] for x in loads],
        "search answered, incl. the 250 ms typing pause (ms)": [x["search"] for x in loads],
        "scrolling to 1,000 runs loaded: p95 between frames (ms)": [x["frame_p95"] for x in loads],
        "rows drawn at once (at the top / after scrolling)": [
            max(x["drawn"], x["scrolled_rows"]) for x in loads
        ],
    }
    for name, values in rows.items():
        table.add_row(
            name,
            f"{percentile(values, 50):.0f}",
            f"{percentile(values, 95):.0f}",
            f"{max(values):.0f}",
        )
    console.print(table)
    console.print(
        f"answered from: {loads[-1]['source']}; runs loaded by scrolling: {loads[-1]['loaded']}"
    )
    console.print(machine_info())


if __name__ == "__main__":
    main()
