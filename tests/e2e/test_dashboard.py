"""The dashboard in a real browser (Debian's Chromium, driven by Playwright) against the
stack `acc up` starts: sign in with a key, start a run and watch it complete, approve a
waiting run, scrub a replay and fork, filter runs, switch theme, drive it by keyboard, and
axe-core on every screen in every theme. Screenshots go to artifacts/dashboard/."""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.stack import acc_up, api_headers, stack_env

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "artifacts" / "dashboard"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
WAIT_MS = 30_000
SCRIPT_ERRORS: dict[Any, list[str]] = {}  # uncaught errors in each page's scripts

if not CHROMIUM.exists():
    pytest.skip("the dashboard tests need Chromium at /usr/bin/chromium", allow_module_level=True)
if not (ROOT / "web" / "dist" / "index.html").exists() or not AXE.exists():
    pytest.skip("the dashboard is not built: bash scripts/web-build.sh", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

expect.set_options(timeout=WAIT_MS)


@dataclass
class Stack:
    api: str
    key: str
    http: httpx.Client
    reviewable: Path  # a tree under ACC_REVIEW_ROOTS


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("dashboard")
    agents = ROOT / "examples" / "routing" / "agents.yaml"
    reviewable = tmp / "reviewable" / "repo"
    reviewable.mkdir(parents=True)
    (reviewable / "app.py").write_text(
        "import hashlib\nimport yaml\n\n\ndef load(t):\n    return yaml.load(t)\n\n\n"
        "def h(d):\n    return hashlib.md5(d)\n"
    )
    env = stack_env(tmp, ACC_AGENTS_FILE=str(agents), ACC_REVIEW_ROOTS=str(reviewable.parent))
    with acc_up(tmp, env):
        api = f"http://127.0.0.1:{env['ACC_API_PORT']}"
        headers = api_headers(tmp / ".acc")
        with httpx.Client(base_url=api, headers=headers, timeout=60) as http:
            yield Stack(api, headers["X-API-Key"], http, reviewable)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


DESKTOP = {"width": 1280, "height": 900}
TABLET_LANDSCAPE = {"width": 1024, "height": 768}
PHONE = {"width": 390, "height": 844}


def new_page(
    browser: Browser,
    stack: Stack,
    *,
    key: bool = True,
    theme: str = "dark",
    viewport: dict[str, int] | None = None,
) -> Page:
    # bypass_csp: axe-core is injected as an inline script, which the page's policy refuses.
    context = browser.new_context(
        base_url=stack.api,
        viewport=viewport or DESKTOP,
        bypass_csp=True,
        is_mobile=viewport == PHONE,
        has_touch=viewport == PHONE,
    )
    script = f"localStorage.setItem('acc.theme', {theme!r});"
    if key:
        script += f"localStorage.setItem('acc.apiKey', {stack.key!r});"
    context.add_init_script(
        f"if (!sessionStorage.getItem('seeded')) {{ {script} "
        "sessionStorage.setItem('seeded', '1'); }"
    )
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.on("pageerror", lambda exc: SCRIPT_ERRORS.setdefault(page, []).append(str(exc)))
    return page


def axe(page: Page, screen: str) -> None:
    """No serious or critical WCAG 2 A/AA violation on what the page shows now."""
    page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate(
        """() => axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
        })"""
    )
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{screen}: " + "; ".join(bad)


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def start(stack: Stack, spec: dict[str, Any]) -> str:
    accepted = stack.http.post("/v1/runs", json=spec)
    assert accepted.status_code == 202, accepted.text
    run_id: str = accepted.json()["id"]
    return run_id


def shell(name: str, command: str) -> dict[str, Any]:
    return {"name": name, "agent": {"backend": "shell", "command": command}}


def test_a_browser_without_a_key_is_asked_for_one(browser: Browser, stack: Stack) -> None:
    page = new_page(browser, stack, key=False)
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in with an API key")).to_be_visible()
    axe(page, "key entry")
    shot(page, "sign-in-dark")
    page.get_by_label("API key").fill("acc_not_a_real_key")
    page.get_by_role("button", name="Use this key").click()
    expect(page.get_by_role("alert")).to_contain_text("refused this key")
    page.get_by_label("API key").fill(stack.key)
    page.get_by_role("button", name="Use this key").click()
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    assert not SCRIPT_ERRORS.get(page)
    # A link with the key in its fragment signs in, and the key leaves the address at once.
    linked = new_page(browser, stack, key=False)
    linked.goto(f"/runs#key={stack.key}")
    expect(linked.get_by_role("heading", name="Runs", exact=True, level=1)).to_be_visible()
    assert linked.url.endswith("/runs")


def test_start_a_run_from_the_page_and_watch_it_complete(browser: Browser, stack: Stack) -> None:
    page = new_page(browser, stack)
    page.goto("/runs")
    page.get_by_role("button", name="Start a run").click()
    dialog = page.get_by_role("dialog", name="Start a run")
    spec = dialog.get_by_label(re.compile("Run spec"))
    spec.fill('{"name": "from-the-page", "steps": [{"name": "x"}]}')
    dialog.get_by_role("button", name="Start", exact=True).click()
    expect(dialog.get_by_role("alert")).to_contain_text("steps[0].agent")  # the API's message
    axe(page, "start a run")
    shot(page, "start-run-dark")
    spec.fill(
        '{"name": "from-the-page", "steps": ['
        '{"name": "greet", "agent": {"backend": "shell", "command": "echo hi page"}},'
        '{"name": "shout", "agent": {"backend": "shell", "command": "tr a-z A-Z"}}]}'
    )
    expect(page.locator("[data-live=push]")).to_be_visible()  # the pool pushes run events
    dialog.get_by_role("button", name="Start", exact=True).click()
    expect(page).to_have_url(re.compile(r"/runs/from-the-page-[0-9a-f]{12}$"))
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("from-the-page")
    expect(page.locator("[data-step=greet]")).to_be_visible()
    expect(heading.locator(".badge")).to_have_text("completed")
    expect(page.get_by_test_id("run-output")).to_have_text("HI PAGE")
    expect(page.locator("[data-step=shout] .badge")).to_have_text("completed")
    link = page.get_by_role("link", name="Open in Temporal Web UI")
    assert "/namespaces/default/workflows/from-the-page-" in (link.get_attribute("href") or "")
    axe(page, "run detail")
    shot(page, "run-detail-dark")
    assert not SCRIPT_ERRORS.get(page)


def test_approve_a_waiting_run_with_a_reason(browser: Browser, stack: Stack) -> None:
    step = shell("deploy", "echo deployed")
    step["approval"] = {"reason": "ship it?"}
    run_id = start(stack, {"name": "needs-approval", "steps": [shell("build", "echo built"), step]})
    page = new_page(browser, stack)
    page.goto(f"/runs/{run_id}")  # a deep link, answered by the app
    expect(page.get_by_role("heading", name=re.compile("Waiting for approval"))).to_be_visible()
    expect(page.get_by_text("ship it?")).to_be_visible()
    axe(page, "waiting run")
    shot(page, "run-waiting-dark")
    # Pushed by the pool, the page does not poll while the run waits.
    expect(page.locator("[data-live=push]")).to_be_visible()
    reads: list[str] = []
    page.on("request", lambda r: reads.append(r.url) if r.url.endswith(run_id) else None)
    page.wait_for_timeout(3000)
    assert reads == [], reads
    page.get_by_label(re.compile("Reason")).fill("looks good to me")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("heading", level=1).locator(".badge")).to_have_text("completed")
    run = stack.http.get(f"/v1/runs/{run_id}").json()
    assert run["status"] == "completed" and run["output"] == "deployed\n"
    timeline = stack.http.get(f"/v1/runs/{run_id}/timeline").json()
    decided = [e for e in timeline["entries"] if e["kind"] == "update"]
    assert decided and "looks good to me" in (decided[0]["input"] or "")


def test_a_phone_reads_but_cannot_act_and_a_tablet_can(browser: Browser, stack: Stack) -> None:
    step = shell("deploy", "echo deployed")
    step["approval"] = {"reason": "from a phone?"}
    run_id = start(stack, {"name": "phone-view", "steps": [step]})
    page = new_page(browser, stack, viewport=PHONE)
    page.goto(f"/runs/{run_id}")
    expect(page.get_by_text("from a phone?")).to_be_visible()
    expect(page.get_by_role("note")).to_contain_text("Read only on a phone")
    for action in ("Approve", "Reject", "Cancel run"):
        expect(page.get_by_role("button", name=action, exact=True)).to_be_hidden()
    axe(page, "run on a phone")
    shot(page, "run-phone-dark")
    page.goto("/runs")
    expect(page.locator(f"[data-run-id='{run_id}']")).to_be_visible()
    expect(page.get_by_role("button", name="Start a run")).to_be_hidden()
    page.keyboard.press("n")  # the shortcut does not open the editor either
    expect(page.get_by_role("dialog")).to_have_count(0)
    fits = "document.documentElement.scrollWidth <= window.innerWidth"
    assert page.evaluate(fits), "the runs list is wider than the phone"
    shot(page, "runs-phone-dark")
    page.goto("/")
    expect(page.get_by_role("heading", name="System health")).to_be_visible()
    expect(page.get_by_role("button", name="Drag System health")).to_be_hidden()

    tablet = new_page(browser, stack, viewport=TABLET_LANDSCAPE)
    tablet.goto(f"/runs/{run_id}")
    expect(tablet.get_by_role("button", name="Approve", exact=True)).to_be_visible()
    expect(tablet.get_by_role("note")).to_be_hidden()
    assert tablet.evaluate(fits), "the run page is wider than a tablet"
    tablet.goto("/")
    expect(tablet.get_by_role("button", name="Move System health earlier")).to_be_visible()
    expect(tablet.locator(".recharts-surface").first).to_be_visible()
    assert tablet.evaluate(fits), "the overview is wider than a tablet"
    shot(tablet, "overview-tablet-dark")
    tablet.goto(f"/runs/{run_id}")
    tablet.get_by_role("button", name="Approve", exact=True).click()
    expect(tablet.get_by_role("heading", level=1).locator(".badge")).to_have_text("completed")


def test_scrub_a_replay_and_fork_from_a_step(browser: Browser, stack: Stack) -> None:
    run_id = start(
        stack, {"name": "to-replay", "steps": [shell("a", "echo one"), shell("b", "tr a-z A-Z")]}
    )
    assert stack.http.get(f"/v1/runs/{run_id}", params={"wait": 30}).json()["status"] == "completed"
    page = new_page(browser, stack)
    page.goto(f"/runs/{run_id}/replay")
    scrubber = page.get_by_label(re.compile(r"Event \d+ of \d+"))
    expect(scrubber).to_be_visible()
    page.get_by_role("button", name=re.compile("#1 b")).click()
    entry = page.get_by_test_id("replay-entry")
    expect(entry).to_contain_text("step · b")
    expect(entry.locator("pre").first).to_have_text("one")
    scrubber.focus()
    page.keyboard.press("Home")
    expect(entry).to_contain_text("run ·")
    page.get_by_role("button", name="Play").click()
    expect(entry).to_contain_text("step · b", timeout=15_000)
    axe(page, "replay")
    shot(page, "replay-dark")
    page.get_by_role("button", name=re.compile("#1 b")).click()
    page.get_by_label("Input of step #1").fill("forked from the page")
    page.get_by_role("button", name="Fork from step #1").click()
    expect(page).to_have_url(re.compile(r"/runs/to-replay-[0-9a-f]{12}$"))
    expect(page.get_by_test_id("run-output")).to_have_text("FORKED FROM THE PAGE")
    expect(page.get_by_text("Forked from", exact=True)).to_be_visible()


def test_filter_and_search_runs(browser: Browser, stack: Stack) -> None:
    done = start(stack, {"name": "filter-done", "steps": [shell("a", "echo ok")]})
    failed = start(stack, {"name": "filter-failed", "steps": [shell("a", "false")]})
    for run_id in (done, failed):
        stack.http.get(f"/v1/runs/{run_id}", params={"wait": 30})
    page = new_page(browser, stack)
    page.goto("/runs")
    page.get_by_label("Status").select_option("failed")
    expect(page).to_have_url(re.compile(r"status=failed"))
    rows = page.locator("tbody tr[data-run-id]")  # not the virtualized list's spacers
    expect(page.locator(f"[data-run-id='{failed}']")).to_be_visible()
    expect(page.locator(f"[data-run-id='{done}']")).to_have_count(0)
    for badge in rows.locator(".badge").all():
        expect(badge).to_have_text("failed")
    page.get_by_label("Status").select_option("")
    page.get_by_label("Search").fill("filter-done")
    expect(page.locator(f"[data-run-id='{done}']")).to_be_visible()
    expect(rows).to_have_count(1)
    page.get_by_label("Pattern").select_option("saga")
    expect(rows).to_have_count(0)
    page.get_by_label("Pattern").select_option("pipeline")
    expect(rows).to_have_count(1)
    axe(page, "runs")
    shot(page, "runs-dark")


def test_switch_theme_and_it_stays(browser: Browser, stack: Stack) -> None:
    page = new_page(browser, stack)
    page.goto("/")
    html = page.locator("html")
    expect(html).to_have_attribute("data-theme", "dark")
    page.get_by_label("Theme").select_option("light")
    expect(html).to_have_attribute("data-theme", "light")
    page.reload()
    expect(html).to_have_attribute("data-theme", "light")
    page.get_by_label("Theme").select_option("high-contrast")
    expect(html).to_have_attribute("data-theme", "high-contrast")
    page.reload()
    expect(html).to_have_attribute("data-theme", "high-contrast")


def test_drive_the_dashboard_by_keyboard_only(browser: Browser, stack: Stack) -> None:
    run_id = start(stack, {"name": "keyboard", "steps": [shell("a", "echo typed")]})
    stack.http.get(f"/v1/runs/{run_id}", params={"wait": 30})
    page = new_page(browser, stack)
    page.goto("/")
    expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    page.keyboard.press("?")
    sheet = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(sheet).to_be_visible()
    axe(page, "cheat sheet")
    page.keyboard.press("Escape")
    expect(sheet).to_have_count(0)
    page.keyboard.press("g")
    page.keyboard.press("r")
    expect(page.get_by_role("heading", name="Runs", exact=True, level=1)).to_be_visible()
    page.keyboard.press("/")
    expect(page.get_by_label("Search")).to_be_focused()
    page.keyboard.type("keyboard")
    page.keyboard.press("Escape")
    expect(page.locator(f"[data-run-id='{run_id}']")).to_be_visible()
    page.keyboard.press("j")
    page.keyboard.press("k")
    expect(page.get_by_role("link", name="keyboard", exact=True)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(f"/runs/{run_id}$"))
    expect(page.get_by_test_id("run-output")).to_have_text("typed")
    page.keyboard.press("g")
    page.keyboard.press("a")
    expect(page.get_by_role("heading", name="Agents", exact=True, level=1)).to_be_visible()
    page.keyboard.press("t")
    expect(page.locator("html")).to_have_attribute("data-theme", "light")


def test_every_screen_passes_axe_in_every_theme(browser: Browser, stack: Stack) -> None:
    run_id = start(stack, {"name": "screens", "steps": [shell("a", "echo x"), shell("b", "cat")]})
    stack.http.get(f"/v1/runs/{run_id}", params={"wait": 30})
    stack.http.post("/v1/agents/route", json={"capability": "review"})
    screens = {
        "overview": ("/", "Overview"),
        "runs": ("/runs", "Runs"),
        "run": (f"/runs/{run_id}", "screens"),
        "replay": (f"/runs/{run_id}/replay", "Replay"),
        "agents": ("/agents", "Agents"),
        "not-found": ("/nothing/here", "Not found"),
    }
    for theme in ("dark", "light", "high-contrast"):
        page = new_page(browser, stack, theme=theme)
        for name, (path, heading) in screens.items():
            page.goto(path)
            expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
            if name == "agents":
                expect(page.locator("[data-agent=careful-reviewer]")).to_be_visible()
                page.get_by_label("Capability").fill("review")
                page.get_by_role("button", name="Route").click()
                expect(page.get_by_test_id("route-decision")).to_be_visible()
            if name == "overview":
                expect(page.locator(".recharts-surface").first).to_be_visible()
            axe(page, f"{name} ({theme})")
            shot(page, f"{name}-{theme}")
        assert not SCRIPT_ERRORS.get(page)
        page.context.close()


class WebhookStandIn(BaseHTTPRequestHandler):
    """A stand-in for a team's webhook receiver: records what acc posts to it."""

    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append(json.loads(body or b"{}"))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    WebhookStandIn.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), WebhookStandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", WebhookStandIn.received
    server.shutdown()
    server.server_close()


def test_analytics_review_alerts_and_configuration_screens(
    browser: Browser, stack: Stack, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    run_id = start(stack, {"name": "analysed", "steps": [shell("a", "echo measured")]})
    stack.http.get(f"/v1/runs/{run_id}", params={"wait": 30})
    made = stack.http.post("/v1/reviews", json={"root": str(stack.reviewable), "team": "web"})
    assert made.status_code == 201, made.text
    review_id = made.json()["id"]
    url, received = webhook
    rule = stack.http.post(
        "/v1/alerts/rules",
        json={
            "name": "quiet-pattern",
            "kind": "absence",
            "pattern": "no-such-pattern",
            "window_minutes": 1,
            "url": url,
        },
    )
    assert rule.status_code == 201, rule.text
    page = new_page(browser, stack)
    try:
        # g-prefixed keys reach every new screen.
        page.goto("/")
        expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
        expect(page.get_by_text("Cost (24 h)")).to_be_visible()
        for key, heading in (
            ("c", "Code review"),
            ("l", "Alerts"),
            ("s", "Configuration"),
            ("p", "Performance analytics"),
        ):
            page.keyboard.press("g")
            page.keyboard.press(key)
            expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()

        # Analytics: a preset by key, the chart with its series, the range before, drill-down.
        # The page's shortcuts are registered just after it first paints: press until seen.
        day = page.get_by_role("button", name="24h")
        deadline = time.monotonic() + 30
        while day.get_attribute("aria-pressed") != "true" and time.monotonic() < deadline:
            page.keyboard.press("3")
            page.wait_for_timeout(200)
        expect(day).to_have_attribute("aria-pressed", "true")
        page.get_by_label("Metric").select_option("runs_started")
        expect(
            page.get_by_role("heading", name=re.compile("runs started · last 24h"))
        ).to_be_visible()
        expect(page.locator(".recharts-line").first).to_be_visible()
        page.get_by_label("Compare with").select_option("previous")
        expect(page.get_by_test_id("comparison")).to_contain_text("the range before")
        expect(page.get_by_test_id("percentiles")).to_contain_text("p95")
        axe(page, "analytics")
        shot(page, "analytics-dark")
        page.get_by_role("link", name="Runs in this range").click()
        expect(page).to_have_url(re.compile(r"/runs\?from=.+&to=.+"))
        expect(page.get_by_test_id("between")).to_be_visible()
        expect(page.locator(f"[data-run-id='{run_id}']")).to_be_visible()

        # Code review: the list, a finding beside its fix, a filter, accept, one patch.
        page.goto("/reviews")
        expect(page.locator(f"[data-review-id='{review_id}']")).to_be_visible()
        axe(page, "reviews")
        shot(page, "reviews-dark")
        page.get_by_role("link", name=str(stack.reviewable)).click()
        finding = page.locator("[data-suggestion='python.security.yaml-unsafe-load']")
        expect(finding.locator("table.diff .diff-add")).to_contain_text("yaml.safe_load(t)")
        expect(finding.locator("meter")).to_be_visible()
        finding.get_by_role("button", name="Accept").click()
        expect(finding.get_by_test_id("decision")).to_have_text("accepted")
        page.get_by_role("button", name="Apply 1 accepted as one patch").click()
        expect(page.get_by_test_id("combined-patch")).to_contain_text(
            "+    return yaml.safe_load(t)"
        )
        expect(page.get_by_role("link", name="Download the patch")).to_be_visible()
        axe(page, "review")
        shot(page, "review-dark")
        page.get_by_role("checkbox", name=re.compile("security")).uncheck()
        expect(finding).to_have_count(0)
        stored = stack.http.get(f"/v1/reviews/{review_id}").json()["feedback"]
        assert list(stored.values()) == ["accept"]

        # Alerts: the rule fires (nothing in its pattern), acknowledge it, send a test alert.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            firing = stack.http.get("/v1/alerts", params={"status": "firing"}).json()
            if any(a["rule_name"] == "quiet-pattern" for a in firing):
                break
            time.sleep(1)
        else:
            raise AssertionError("the absence rule did not fire within 60 s")
        page.goto("/alerts")
        row = page.locator("tr", has_text="no events in the last 1 min").first
        row.get_by_role("button", name=re.compile("Acknowledge")).click()
        expect(row.locator(".badge")).to_have_text("acknowledged")
        page.get_by_role("button", name="Send test alert for quiet-pattern").click()
        expect(page.get_by_test_id("test-outcome")).to_contain_text("test: HTTP 204")
        assert any(body.get("event") == "test" for body in received), received
        axe(page, "alerts")
        shot(page, "alerts-dark")

        # Configuration: read only where the API cannot write, said on the page.
        page.goto("/configuration")
        agents_file = page.get_by_role("region", name="Agents file")
        expect(agents_file.get_by_role("rowheader", name="careful-reviewer")).to_be_visible()
        expect(agents_file).to_contain_text("Read only")
        expect(page.get_by_label("Standards of default (JSON)")).to_be_visible()
        axe(page, "configuration")
        shot(page, "configuration-dark")
        assert not SCRIPT_ERRORS.get(page)
    finally:
        page.context.close()
        stack.http.delete(f"/v1/alerts/rules/{rule.json()['id']}")

    screens = {
        "analytics": ("/analytics", "Performance analytics"),
        "reviews": ("/reviews", "Code review"),
        "review": (f"/reviews/{review_id}", "Code review"),
        "alerts": ("/alerts", "Alerts"),
        "configuration": ("/configuration", "Configuration"),
    }
    for theme in ("light", "high-contrast"):
        themed = new_page(browser, stack, theme=theme)
        for name, (path, heading) in screens.items():
            themed.goto(path)
            expect(themed.get_by_role("heading", level=1)).to_have_text(heading)
            ready = {"analytics": ".recharts-line", "review": "table.diff", "alerts": "tbody tr"}
            if name in ready:
                expect(themed.locator(ready[name]).first).to_be_visible()
            axe(themed, f"{name} ({theme})")
            shot(themed, f"{name}-{theme}")
        assert not SCRIPT_ERRORS.get(themed)
        themed.context.close()
