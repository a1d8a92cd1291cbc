"""Live run pages: how soon after a step finishes the run page shows it, in headless
Chromium against a stack `acc up` started in a temp dir, beside the pool itself.

One run of `--steps` shell steps, one after another, each sleeping a little so they end
apart; its first step waits for an approval, so the run page is open and following the
pool (the header says live) before any measured step ends. For each step:

* step finished: the `time` of its `step.completed` event (the worker's clock; the browser
  runs on the same machine).
* run page shows it: when the step's node in the page's step graph turns completed (a
  MutationObserver in the page, `Date.now()`), i.e. the pool pushed the event, the page
  read the run again (`GET /v1/runs/<id>`) and drew it.
* baseline, the same run's raw pool subscription: a WebSocket opened in the same page,
  subscribed to the same `runs` channel with the same key, receiving that `step.completed`.

The difference is the dashboard's own share: batching events for 200 ms, the API call and
the render.

    .venv/bin/python benchmarks/dashboard_live.py --steps 40
    .venv/bin/python benchmarks/dashboard_live.py --quick      # 5 steps, a smoke test

Needs Chromium at /usr/bin/chromium and a built dashboard (bash scripts/web-build.sh).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import httpx
from _stack import AccStack, machine_info, percentile
from playwright.sync_api import Page, sync_playwright
from rich.console import Console
from rich.table import Table

console = Console(soft_wrap=True)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
STEP_SECONDS = 0.4  # apart enough that one step's render is done before the next ends

# When each step's node first shows completed, in the page's clock.
WATCH_STEPS = """
window.__shown = {};
new MutationObserver(() => {
  for (const node of document.querySelectorAll('li.node-completed[data-step]')) {
    const step = node.getAttribute('data-step');
    if (!(step in window.__shown)) window.__shown[step] = Date.now();
  }
}).observe(document, {subtree: true, childList: true, attributes: true,
                      attributeFilter: ['class']});
"""

# The baseline: a subscriber of the same channel, in the same page.
SUBSCRIBE = """([url, token, runId]) => new Promise((resolve, reject) => {
  window.__received = {};
  const ws = new WebSocket(url);
  const send = (m) => ws.send(JSON.stringify({v: 1, ...m}));
  ws.onopen = () => send({type: 'hello', token, role: 'subscriber'});
  ws.onerror = () => reject(new Error('the pool refused the baseline subscriber'));
  ws.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (data.type === 'registered') send({type: 'subscribe', channel: 'runs'});
    else if (data.type === 'subscribed') resolve(true);
    else if (data.type === 'ping') send({type: 'pong', nonce: data.nonce ?? ''});
    else if (data.type === 'event' && data.event?.run_id === runId
             && data.event?.type === 'step.completed') {
      window.__received[data.event.step] = {at: Date.now(), time: data.event.time};
    }
  };
})"""


def spec(steps: int) -> dict[str, Any]:
    gate = {
        "name": "gate",
        "agent": {"backend": "shell", "command": "echo go"},
        "approval": {"reason": "the page is open"},
    }
    measured = [
        {"name": f"s{i:03d}", "agent": {"backend": "shell", "command": f"sleep {STEP_SECONDS}"}}
        for i in range(steps)
    ]
    return {"name": "live-bench", "steps": [gate, *measured]}


def measure(page: Page, http: httpx.Client, key: str, steps: int) -> list[dict[str, float]]:
    run_id = http.post("/v1/runs", json=spec(steps)).json()["id"]
    page.goto(f"/runs/{run_id}")
    page.wait_for_selector("[data-live=push]", timeout=60_000)
    page.get_by_role("button", name="Approve", exact=True).wait_for(timeout=60_000)
    pool = http.get("/v1/dashboard/config").json()["pool_urls"][0]
    page.evaluate(SUBSCRIBE, [pool, key, run_id])
    assert http.post(f"/v1/runs/{run_id}/approve", json={"comment": "bench"}).status_code == 200
    deadline = time.monotonic() + 60 + steps * (STEP_SECONDS + 2)
    names = [f"s{i:03d}" for i in range(steps)]
    while time.monotonic() < deadline:
        shown: dict[str, float] = page.evaluate("window.__shown")
        if all(n in shown for n in names):
            break
        page.wait_for_timeout(200)
    else:
        raise SystemExit(f"the page did not show every step within the time: {shown}")
    received: dict[str, dict[str, Any]] = page.evaluate("window.__received")
    samples = []
    for name in names:
        finished = page.evaluate("(t) => Date.parse(t)", received[name]["time"])
        samples.append(
            {"shown": shown[name] - finished, "received": received[name]["at"] - finished}
        )
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="5 steps: a smoke test")
    args = parser.parse_args()
    steps = 5 if args.quick else args.steps
    with AccStack() as stack:
        stack.start()
        key = (stack.data_dir / "admin.key").read_text().strip()
        with (
            httpx.Client(base_url=stack.api_url, headers={"X-API-Key": key}, timeout=60) as http,
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            context = browser.new_context(base_url=stack.api_url)
            context.add_init_script(f"localStorage.setItem('acc.apiKey', {key!r});{WATCH_STEPS}")
            samples = measure(context.new_page(), http, key, steps)
            browser.close()
    table = Table(title=f"Step finished -> shown ({steps} steps of one run, headless Chromium)")
    for column in ("measure", "p50", "p95", "max"):
        table.add_column(column, justify="right" if column != "measure" else "left")
    rows = {
        "baseline: the pool's subscriber receives step.completed (ms)": [
            s["received"] for s in samples
        ],
        "run page shows the step completed (ms)": [s["shown"] for s in samples],
        "the page's share: shown - received (ms)": [s["shown"] - s["received"] for s in samples],
    }
    for name, values in rows.items():
        table.add_row(
            name,
            f"{percentile(values, 50):.0f}",
            f"{percentile(values, 95):.0f}",
            f"{max(values):.0f}",
        )
    console.print(table)
    console.print(machine_info())


if __name__ == "__main__":
    main()
