"""The dashboard's initial load: what the overview downloads (JavaScript and CSS, gzipped as
the API serves them) and how soon headless Chromium paints it, beside a one-line HTML page
in the same browser as the baseline.

What is measured, against a stack `acc up` started in a temp dir (with a few runs in it):

* bytes: every script and style the overview fetches before its key figures show, as sent
  over the wire (the API gzips the dashboard's files), and the chart's chunk that loads
  after them; read from Chromium's resource timing (`encodedBodySize`).
* first contentful paint: Chromium's `first-contentful-paint` entry, cold cache (a new
  browser context each time).
* key figures shown: from navigation start until the overview shows its run count (the API
  answered and the page rendered it): the first meaningful paint.
* the API's answer: how long the overview's one list call (`GET /v1/runs?limit=1000`,
  Temporal's visibility store) took inside that time.
* baseline: first contentful paint of `<h1>acc</h1>` served by the same API process.

    .venv/bin/python benchmarks/dashboard_load.py --runs 10

Needs Chromium at /usr/bin/chromium and a built dashboard (bash scripts/web-build.sh).
"""

from __future__ import annotations

import argparse
from typing import Any

import httpx
from _stack import AccStack, machine_info, percentile
from playwright.sync_api import Browser, sync_playwright
from rich.console import Console
from rich.table import Table

console = Console(soft_wrap=True)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
SPEC = {
    "name": "bench",
    "steps": [{"name": "a", "agent": {"backend": "shell", "command": "echo hi"}}],
}


def load_once(browser: Browser, api: str, key: str) -> dict[str, Any]:
    context = browser.new_context(base_url=api)
    context.add_init_script(f"localStorage.setItem('acc.apiKey', {key!r})")
    page = context.new_page()
    page.goto("/")
    page.wait_for_function(
        "() => /^\\d+$/.test(document.querySelector('.kpi dd')?.textContent ?? '')",
        timeout=30_000,
    )
    shown_ms = page.evaluate("performance.now()")
    page.wait_for_selector(".recharts-surface", timeout=30_000)
    timing: dict[str, Any] = page.evaluate(
        """() => ({
            fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null,
            resources: performance.getEntriesByType('resource')
                .filter(r => /\\/assets\\//.test(r.name))
                .map(r => ({name: r.name.split('/').pop(), bytes: r.encodedBodySize,
                            end: r.responseEnd})),
            document: performance.getEntriesByType('navigation')[0].encodedBodySize,
            runs: performance.getEntriesByType('resource')
                .filter(r => r.initiatorType === 'fetch' && r.name.includes('/v1/runs?'))
                .map(r => r.duration)[0] ?? null,
        })"""
    )
    context.close()
    timing["shown"] = shown_ms
    return timing


def baseline_once(browser: Browser, api: str) -> float:
    context = browser.new_context(base_url=api)
    page = context.new_page()
    page.route(
        "**/baseline", lambda route: route.fulfill(body="<h1>acc</h1>", content_type="text/html")
    )
    page.goto("/baseline")
    page.wait_for_function("performance.getEntriesByName('first-contentful-paint').length > 0")
    fcp: float = page.evaluate(
        "performance.getEntriesByName('first-contentful-paint')[0].startTime"
    )
    context.close()
    return fcp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with AccStack() as stack:
        stack.start()
        key = (stack.data_dir / "admin.key").read_text().strip()
        with httpx.Client(base_url=stack.api_url, headers={"X-API-Key": key}, timeout=60) as http:
            for _ in range(5):
                run_id = http.post("/v1/runs", json=SPEC).json()["id"]
                http.get(f"/v1/runs/{run_id}", params={"wait": 30})
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            load_once(browser, stack.api_url, key)  # the first start of the browser's caches
            loads = [load_once(browser, stack.api_url, key) for _ in range(args.runs)]
            baselines = [baseline_once(browser, stack.api_url) for _ in range(args.runs)]
            browser.close()
    last = loads[-1]
    chart = [r for r in last["resources"] if r["name"].startswith("RunsChart")]
    before = [r for r in last["resources"] if not r["name"].startswith("RunsChart")]
    initial_kb = (sum(r["bytes"] for r in before) + last["document"]) / 1024
    table = Table(title=f"Dashboard initial load ({args.runs} cold loads, headless Chromium)")
    for column in ("measure", "p50", "p95", "max"):
        table.add_column(column, justify="right" if column != "measure" else "left")
    rows = {
        "baseline: one-line page, first contentful paint (ms)": baselines,
        "overview: first contentful paint (ms)": [x["fcp"] for x in loads],
        "overview: GET /v1/runs?limit=1000 inside it (ms)": [x["runs"] for x in loads],
        "overview: key figures shown (ms)": [x["shown"] for x in loads],
    }
    for name, values in rows.items():
        table.add_row(
            name,
            f"{percentile(values, 50):.0f}",
            f"{percentile(values, 95):.0f}",
            f"{max(values):.0f}",
        )
    console.print(table)
    console.print(f"overview before its key figures: {initial_kb:.1f} KiB over the wire (gzip):")
    for r in before:
        console.print(f"  {r['name']}: {r['bytes'] / 1024:.1f} KiB")
    for r in chart:
        console.print(f"chart, loaded after them: {r['name']}: {r['bytes'] / 1024:.1f} KiB")
    console.print(machine_info())


if __name__ == "__main__":
    main()
