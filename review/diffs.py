"""Incremental review: the lines a git diff touched, per file.

`changed_lines(root, ref)` compares the working tree with `ref` (`git diff -U0 ref`) and
counts untracked files as wholly new; `staged=True` reads what is staged for commit
(`git diff --cached -U0`). Paths are relative to the repository's top level, converted to
the review's root."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")
WHOLE_FILE = frozenset({0})  # marker: every line counts (a new, untracked file)


class DiffError(ValueError):
    """git could not produce the diff (not a repository, unknown ref)."""


def _git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except FileNotFoundError:
        raise DiffError("git is not installed") from None
    if done.returncode != 0:
        raise DiffError(f"git {' '.join(args)}: {done.stderr.strip() or 'failed'}")
    return done.stdout


def parse(diff: str) -> dict[str, set[int]]:
    """New-side line numbers each file's hunks add or change (deletions mark the line
    after them, so a removed check is still reviewed in its context)."""
    files: dict[str, set[int]] = {}
    current: set[int] | None = None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            name = line[4:].strip()
            if name == "/dev/null":
                current = None
                continue
            name = name[2:] if name.startswith("b/") else name
            current = files.setdefault(name, set())
        elif current is not None and (match := HUNK.match(line)):
            start, count = int(match.group(1)), int(match.group(2) or "1")
            current.update(range(start, start + count) if count else {max(start, 1)})
    return files


def changed_lines(root: Path, ref: str | None, staged: bool = False) -> dict[str, set[int]]:
    """Changed lines by path relative to `root`; WHOLE_FILE for untracked files."""
    top = Path(_git(root, "rev-parse", "--show-toplevel").strip()).resolve()
    if staged:
        text = _git(root, "diff", "--cached", "-U0", "--no-color", "--no-ext-diff")
    else:
        if ref is None or ref.startswith("-"):
            raise DiffError(f"bad ref {ref!r}")
        _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        text = _git(root, "diff", "-U0", "--no-color", "--no-ext-diff", ref, "--")
    by_top = parse(text)
    if not staged:
        untracked = _git(root, "ls-files", "--others", "--exclude-standard", "--full-name")
        for name in untracked.splitlines():
            by_top[name] = set(WHOLE_FILE)
    root = root.resolve()
    out: dict[str, set[int]] = {}
    for name, lines in by_top.items():
        path = top / name
        if path.is_relative_to(root):
            out[path.relative_to(root).as_posix()] = lines
    return out


def touches(lines: set[int], start: int, end: int) -> bool:
    return lines == WHOLE_FILE or any(n in lines for n in range(start, end + 1))


def head_commit(root: Path) -> str:
    """The commit the working tree is on (a pull request review names it)."""
    return _git(root, "rev-parse", "--verify", "HEAD").strip()


def toplevel(root: Path) -> Path:
    return Path(_git(root, "rev-parse", "--show-toplevel").strip()).resolve()
