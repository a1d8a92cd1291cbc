"""One semgrep process per review: every shipped rule, every target file.

semgrep is pinned (1.182.0) and installed in an environment of its own, because its
dependencies pin an older OpenTelemetry than acc's (scripts/bootstrap.sh makes
`.tools/semgrep` and links `semgrep` into `.venv/bin`). It runs fully offline: no version
check, no metrics, only our rules (never the registry). `--experimental` is semgrep's
native command line: the same engine without the Python wrapper's 1-10 s start-up, and
the classic command line cannot run our rules at all (its rule loader rejects the float
`metadata.confidence` every rule carries: exit code 2, no report).

A rule with `fix:` costs one parse of the whole target per finding: semgrep renders the
fix and re-parses the file with it applied to check it still parses (AST-based autofix,
in semgrep-core, whatever the flags; `--autofix --dryrun` only add the fixed lines). A
file with thousands of fixable findings therefore takes minutes (docs/REVIEW.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PINNED_VERSION = "1.182.0"
OFFLINE_ENV = {
    "SEMGREP_ENABLE_VERSION_CHECK": "0",
    "SEMGREP_SEND_METRICS": "off",
    "SEMGREP_DISABLE_VERSION_CHECK": "1",
}


class SemgrepUnavailable(RuntimeError):
    """No semgrep executable, or one that cannot run."""


@dataclass
class Match:
    rule_id: str
    path: Path
    start_line: int
    start_col: int
    start_offset: int
    end_line: int
    end_col: int
    end_offset: int
    message: str
    fix: str | None


@dataclass
class ScanResult:
    matches: list[Match] = field(default_factory=list)
    errors: list[tuple[Path | None, str]] = field(default_factory=list)  # (file, message)
    version: str = ""


def executable(configured: str | None = None) -> str:
    """The semgrep to run: the setting, else the one beside this Python, else PATH."""
    if configured:
        found = shutil.which(configured)
        if found is None:
            raise SemgrepUnavailable(
                f"ACC_REVIEW_SEMGREP={configured} is not an executable: point it at semgrep "
                f"{PINNED_VERSION} (scripts/bootstrap.sh installs it into .tools/semgrep)"
            )
        return os.path.abspath(found)
    beside = Path(sys.executable).parent / "semgrep"
    if beside.exists():
        return str(beside)
    found = shutil.which("semgrep")
    if found:
        return found
    raise SemgrepUnavailable(
        "semgrep is not installed: run scripts/bootstrap.sh (it installs semgrep "
        f"{PINNED_VERSION} into .tools/semgrep), or set ACC_REVIEW_SEMGREP to its path"
    )


def environment() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    return {**env, **OFFLINE_ENV}


def command(binary: str, config: Path, targets: list[Path], timeout: float) -> list[str]:
    # --experimental: the classic CLI rejects our rules' float metadata (see above).
    return [
        binary,
        "scan",
        "--experimental",
        "--metrics=off",
        "--disable-version-check",
        "--json",
        "--quiet",
        "--autofix",
        "--dryrun",
        "--no-git-ignore",
        "--max-target-bytes=0",
        f"--timeout={max(1, int(timeout))}",
        f"--config={config}",
        "--",
        *(str(t) for t in targets),
    ]


def scan(
    raw_rules: list[dict[str, Any]],
    targets: list[Path],
    *,
    binary: str | None = None,
    timeout: float = 300.0,
    on_output: Callable[[], None] | None = None,
) -> ScanResult:
    """Run the rules over the targets in one semgrep process and read its JSON."""
    if not targets or not raw_rules:
        return ScanResult()
    exe = executable(binary)
    with tempfile.TemporaryDirectory(prefix="acc-review-") as tmp:
        config = Path(tmp) / "rules.yaml"
        config.write_text(yaml.safe_dump({"rules": raw_rules}, sort_keys=False))
        argv = command(exe, config, targets, timeout)
        try:
            proc = subprocess.Popen(
                argv,
                cwd=tmp,
                env=environment(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
            )
        except OSError as exc:
            raise SemgrepUnavailable(f"cannot run {exe}: {exc}") from None
        stdout, stderr = _communicate(proc, timeout, on_output)
    try:
        data = json.loads(stdout or b"{}")
    except ValueError:
        tail = stderr.decode(errors="replace").strip().splitlines()[-5:]
        raise SemgrepUnavailable(
            f"semgrep exited with code {proc.returncode} without a report: " + " | ".join(tail)
        ) from None
    known = {str(r["id"]) for r in raw_rules}
    result = ScanResult(version=str(data.get("version", "")))
    for item in data.get("results", []):
        extra = item.get("extra", {})
        result.matches.append(
            Match(
                rule_id=_rule_id(str(item["check_id"]), known),
                path=Path(item["path"]),
                start_line=int(item["start"]["line"]),
                start_col=int(item["start"]["col"]),
                start_offset=int(item["start"]["offset"]),
                end_line=int(item["end"]["line"]),
                end_col=int(item["end"]["col"]),
                end_offset=int(item["end"]["offset"]),
                message=str(extra.get("message", "")),
                fix=extra.get("fix"),
            )
        )
    for error in data.get("errors", []):
        where = error.get("path")
        text = str(error.get("message") or error.get("type") or "error")
        result.errors.append((Path(where) if where else None, text))
    return result


def _communicate(
    proc: subprocess.Popen[bytes], timeout: float, tick: Callable[[], None] | None
) -> tuple[bytes, bytes]:
    """Wait for semgrep, calling `tick` about once a second (heartbeats)."""
    waited = 0.0
    while True:
        try:
            return proc.communicate(timeout=1.0)
        except subprocess.TimeoutExpired:
            waited += 1.0
            if tick is not None:
                tick()
            if waited > timeout + 30:
                proc.kill()
                proc.communicate()
                raise SemgrepUnavailable(f"semgrep ran longer than {timeout:.0f} s") from None


def _rule_id(check_id: str, known: set[str]) -> str:
    """semgrep prefixes ids with the config's folder; ours are the suffix."""
    if check_id in known:
        return check_id
    for rule_id in known:
        if check_id.endswith("." + rule_id):
            return rule_id
    return check_id
