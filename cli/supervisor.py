"""Keeping the one-machine stack up: `acc up` restarts a part that dies instead of stopping
everything.

A part that exits after running a while (`STEADY_SECONDS`) is started again at once. One
that dies soon after it started is backed off, 1 s, 2 s, 4 s... (at most 10 s), and one
that dies that way `CRASH_LIMIT` times in a row is crash-looping: the stack stops with its
last log lines. The
restart counts live in `stack.json`, so `acc status` shows them. The stateless parts (API,
workers) lose nothing; the Temporal dev server restarts on its SQLite file, so every run
survives; the embedded broker and Redis keep nothing on disk (producers recreate topics,
breakers start closed).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cli import stack
from core.settings import Settings

CRASH_LIMIT = 5
STEADY_SECONDS = 5.0  # up this long before dying: a crash, not a crash loop
MAX_BACKOFF_SECONDS = 10.0
POLL_SECONDS = 0.1


@dataclass
class Health:
    """Restarts of one part."""

    early_deaths: int = 0  # deaths in a row, each soon after its start
    restarts: int = 0
    started: float = field(default_factory=time.monotonic)
    due: float | None = None  # when the pending restart runs


class Supervisor:
    def __init__(
        self,
        settings: Settings,
        parts: list[stack.Part],
        urls: dict[str, str],
        say: Callable[[str], None],
    ) -> None:
        self.settings, self.parts, self.urls, self.say = settings, parts, urls, say
        self.health = {part.name: Health() for part in parts}

    def run(self) -> None:
        """Watch the parts until interrupted (KeyboardInterrupt, or the SIGTERM handler's
        exception); raises StackError when a part is crash-looping."""
        while True:
            self.check(time.monotonic())
            time.sleep(POLL_SECONDS)

    def check(self, now: float) -> None:
        for part in self.parts:
            health = self.health[part.name]
            if health.due is not None:
                if now >= health.due:
                    self._restart(part, health)
                continue
            if part.proc is None or part.proc.poll() is None:
                continue
            self._died(part, health, now)

    def _died(self, part: stack.Part, health: Health, now: float) -> None:
        assert part.proc is not None
        code = part.proc.returncode
        steady = now - health.started >= STEADY_SECONDS
        health.early_deaths = 0 if steady else health.early_deaths + 1
        if health.early_deaths >= CRASH_LIMIT:
            raise stack.StackError(
                f"{part.title} died {health.early_deaths} times in a row within "
                f"{STEADY_SECONDS:g}s of starting (last exit code {code}); stopping the "
                "stack. Last log lines:\n" + stack.log_tail(self.settings, part)
            )
        early = health.early_deaths
        delay = 0.0 if early <= 1 else min(MAX_BACKOFF_SECONDS, 2.0 ** (early - 2))
        health.due = now + delay
        when = "now" if delay == 0 else f"in {delay:g}s"
        self.say(
            f"{part.title} exited (code {code}); restarting it {when} "
            f"(restart {health.restarts + 1}; log: {part.log_path(self.settings)})"
        )

    def _restart(self, part: stack.Part, health: Health) -> None:
        health.due = None
        health.restarts += 1
        if part.proc is not None:  # whatever the dead leader left in its process group
            stack.stop_groups({part.proc.pid: 0.0})
        stack.launch(self.settings, part)
        health.started = time.monotonic()
        stack.write_state(self.settings, self.parts, self.urls, self.restarts())

    def restarts(self) -> dict[str, int]:
        return {name: h.restarts for name, h in self.health.items() if h.restarts}
