"""`acc run` and friends: talk to the API over HTTP and show a run's progress live."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml
from pydantic import ValidationError
from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential_jitter,
)

from cli.live import RunFeed
from core.settings import Settings
from core.specs import RunSpec, parse_spec

STEP_STYLE = {
    "pending": ("·", "dim"),
    "running": ("▶", "yellow"),
    "completed": ("✓", "green"),
    "failed": ("✗", "red"),
    "cancelled": ("■", "magenta"),
}
RUN_STYLE = {
    "completed": "green",
    "running": "yellow",
    "waiting": "bold yellow",
    "stuck": "bold red",
    "failed": "red",
    "cancelled": "magenta",
}


class CliError(Exception):
    """An error to print as one line, with what to do about it."""


class ApiUnreachable(CliError):
    """The API did not answer (down, restarting, or not started)."""


class ApiError(CliError):
    """The API answered with an error: its status and `{"type", "message", "details"}`."""

    def __init__(self, status: int, error: dict[str, Any], text: str) -> None:
        super().__init__(f"{status} {error.get('message') or text}")
        self.status, self.error = status, error


class SpecLoader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false, so `on:` (an event handler key) stays a string."""


SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_spec(path: Path) -> RunSpec:
    """Read a YAML or JSON spec file and validate it, naming the field that is wrong."""
    try:
        raw = yaml.load(path.read_text(), Loader=SpecLoader)  # SpecLoader is a SafeLoader
    except FileNotFoundError:
        raise CliError(f"spec file {path} not found") from None
    except UnicodeDecodeError:
        raise CliError(f"{path} is not text: a spec is a YAML or JSON file in UTF-8") from None
    except OSError as exc:
        raise CliError(f"cannot read the spec file {path}: {exc.strerror or exc}") from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise CliError(f"{path} is not valid YAML or JSON: {exc}") from None
    try:
        return parse_spec(raw)
    except ValidationError as exc:
        problems = "\n".join(
            f"  {'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise CliError(f"{path} is not a valid run spec:\n{problems}") from None


class ApiClient:
    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 70.0) -> None:
        self.base_url = base_url
        self.settings: Settings | None = None  # set by `of`: where the pool is, for follow
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.Client(base_url=base_url, timeout=timeout, headers=headers)

    @classmethod
    def of(cls, settings: Settings) -> ApiClient:
        """The API of these settings, with their key (ACC_API_KEY, its file, or the local
        admin key `acc up` made)."""
        client = cls(settings.api_url, settings.api_key())
        client.settings = settings
        return client

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.send(method, path, **kwargs)
        return resp.json() if resp.content else {}

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The API's answer as it came (e.g. a file), or ApiError saying what went wrong."""
        try:
            resp = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiUnreachable(
                f"the acc API is not reachable at {self.base_url} ({exc}); "
                "start the stack with `acc up`, or set ACC_API_URL"
            ) from None
        if resp.status_code >= 400:
            try:
                body = resp.json() if resp.content else {}
            except ValueError:
                body = {}
            error = body.get("error", {}) if isinstance(body, dict) else {}
            if resp.status_code == 401:
                error = {
                    **error,
                    "message": f"{error.get('message', '')} (the CLI sends "
                    "ACC_API_KEY, ACC_API_KEY_FILE, or the data dir's admin.key)",
                }
            raise ApiError(resp.status_code, error, resp.text)
        return resp

    def start(self, spec: RunSpec, console: Console | None = None) -> dict[str, Any]:
        """Start a run; sent again while the API does not answer, with the same
        idempotency key, so a request that did reach it does not start a second run."""
        body, key = spec.model_dump(mode="json"), uuid.uuid4().hex
        headers = {"Idempotency-Key": key}

        def send() -> dict[str, Any]:
            result: dict[str, Any] = self.request("POST", "/v1/runs", json=body, headers=headers)
            return result

        return riding_out_restarts(send, console or Console(stderr=True), START_RETRY_SECONDS)

    def get(self, run_id: str, wait: float = 0) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/v1/runs/{run_id}", params={"wait": wait})
        return result

    def cancel(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("POST", f"/v1/runs/{run_id}/cancel")
        return result

    def decide(self, run_id: str, approve: bool, comment: str = "") -> dict[str, Any]:
        verb = "approve" if approve else "reject"
        body = {"comment": comment}
        result: dict[str, Any] = self.request("POST", f"/v1/runs/{run_id}/{verb}", json=body)
        return result

    def fork(self, run_id: str, from_step: int, text: str | None) -> dict[str, Any]:
        body = {"from_step": from_step, "input": text}
        result: dict[str, Any] = self.request("POST", f"/v1/runs/{run_id}/fork", json=body)
        return result

    def runs(self, **filters: Any) -> tuple[list[dict[str, Any]], str | None]:
        """A page of runs, and the cursor of the next page (None after the last)."""
        params = {k: v for k, v in filters.items() if v is not None}
        resp = self.send("GET", "/v1/runs", params=params)
        result: list[dict[str, Any]] = resp.json()
        return result, resp.headers.get("X-Acc-Next-Cursor")

    def agents(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request("GET", "/v1/agents")
        return result

    def connected_agents(self) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", "/v1/agents/connected")
        return result

    def breakers(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request("GET", "/v1/agents/breakers")
        return result

    def route(self, request: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.request("POST", "/v1/agents/route", json=request)
        return result

    def history(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/v1/runs/{run_id}/history")
        return result


def render(run: dict[str, Any]) -> Group:
    steps = run.get("steps") or []
    pending = run.get("pending") or []
    done = sum(1 for s in steps if s["status"] == "completed")
    status = run["status"]
    header = Text.assemble(
        (f"{run['id']} ", "bold"),
        (status, RUN_STYLE.get(status, "white")),
        f"  {done}/{len(steps) + len(pending)} steps",
    )
    if run.get("waiting"):
        header.append(
            f"  waiting for {run['waiting']['kind']}: {run['waiting']['reason']}", "bold yellow"
        )
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("", width=2)
    table.add_column("step")
    table.add_column("status")
    table.add_column("ms", justify="right")
    table.add_column("output / error", overflow="ellipsis", no_wrap=True, max_width=60)
    steps = [*steps, *({"name": name, "status": "pending"} for name in pending)]
    for step in steps:
        mark, style = STEP_STYLE.get(step["status"], ("?", "white"))
        result = step.get("result") or {}
        duration = f"{result['duration_ms']:.0f}" if result else ""
        detail = step.get("error") or (result.get("output", {}).get("text", "") if result else "")
        table.add_row(
            Text(mark, style),
            Text(step["name"]),
            Text(step["status"], style),
            duration,
            Text(detail.strip().replace("\n", " ⏎ ")),
        )
    return Group(header, table)


def follow(
    api: ApiClient,
    run_id: str,
    console: Console,
    poll: float = 1.0,
    on_waiting: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Show the run's steps live until it ends; return its final view. When the run waits
    for a decision, `on_waiting` (if given) is asked for it.

    The run's events come pushed by the WebSocket pool (`cli/live.py`): the view is read
    again when one arrives. Without a pool, the API is polled (`wait` long-polls)."""
    feed = RunFeed(api.settings, run_id) if api.settings is not None else None
    run = riding_out_restarts(lambda: api.get(run_id), console)
    try:
        with Live(render(run), console=console, refresh_per_second=8, transient=False) as live:
            while run["status"] in ("running", "waiting"):
                if run["status"] == "waiting" and on_waiting is not None:
                    live.stop()
                    on_waiting(run)
                    live.start()
                started = time.monotonic()
                if feed is not None and not feed.broken.is_set():
                    feed.wait()
                    run = riding_out_restarts(lambda: api.get(run_id), console)
                else:
                    run = riding_out_restarts(lambda: api.get(run_id, wait=poll), console)
                live.update(render(run))
                # `wait` returns early only when the run ended; keep a floor on polling anyway.
                time.sleep(max(0.0, 0.05 - (time.monotonic() - started)))
    finally:
        if feed is not None:
            feed.close()
    console.line()
    return run


RECONNECT_FOR_SECONDS = 300.0  # following a run: as long as a restart could take
START_RETRY_SECONDS = 15.0  # starting one: an API restarting, not a stack never started


def riding_out_restarts(
    call: Callable[[], dict[str, Any]], console: Console, for_seconds: float = RECONNECT_FOR_SECONDS
) -> dict[str, Any]:
    """`call`, retried with backoff while the API does not answer (it restarts in seconds
    under `acc up`; the run goes on meanwhile), for up to `for_seconds`."""

    def say(state: RetryCallState) -> None:
        wait = state.next_action.sleep if state.next_action else 0
        console.print(
            f"[yellow]API unreachable; reconnecting in {wait:.1f}s "
            f"(attempt {state.attempt_number})[/]",
            highlight=False,
        )

    retrying = Retrying(
        retry=retry_if_exception_type(ApiUnreachable),
        wait=wait_exponential_jitter(multiplier=0.5, max=5),
        stop=stop_after_delay(for_seconds),
        before_sleep=say,
        reraise=True,
    )
    result: dict[str, Any] = retrying(call)
    return result


def print_outcome(run: dict[str, Any], console: Console) -> None:
    for note in run.get("notes") or []:
        console.print(Text(f"note: {note}", style="dim"))
    if run.get("quality") is not None:
        console.print(f"Quality: [bold]{run['quality']:.2f}[/] (0..1, see docs/QUALITY.md)")
    if run["status"] == "completed":
        output = run.get("output") or ""
        console.print("[green]Run completed.[/] Output:")
        console.print(output.rstrip() or "(empty)", markup=False, highlight=False)
        if run.get("output_artifact"):
            console.print(f"(preview; full output at /v1/artifacts/{run['output_artifact']})")
    else:
        error = escape(run.get("error") or "")
        console.print(f"[red]Run {run['status']}[/]: {error}", highlight=False)
    console.print(f"Temporal Web UI: {run['links']['temporal_ui']}")


def dump(data: Any) -> str:
    return json.dumps(data, indent=2, default=str)
