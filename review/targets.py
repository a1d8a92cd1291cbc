"""Which files a review reads, and why the others are skipped.

A file is skipped, with the reason in the report, when it is a symlink leading out of the
root, unreadable, larger than the limit, binary (a NUL byte or invalid UTF-8 in its first
8 KiB) or not a regular file. Directories under the root are walked; version-control,
dependency and cache folders are not. One bad file never fails the review.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from review.models import Skipped

PRUNED_DIRS = frozenset(
    [
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        ".venv",
        "venv",
        "__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".tox",
        "dist",
        "build",
        ".tools",
        ".acc",
    ]
)
SNIFF_BYTES = 8192


class OutsideRoot(ValueError):
    """A requested path that is not under the review's root."""


@dataclass
class Targets:
    files: list[Path] = field(default_factory=list)  # absolute, resolved, under root
    skipped: list[Skipped] = field(default_factory=list)


def relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def within(root: Path, requested: str) -> Path:
    """`requested` (relative to root, or absolute) as an absolute path under root, without
    following a final symlink; OutsideRoot when it leads elsewhere."""
    candidate = Path(requested)
    joined = candidate if candidate.is_absolute() else root / candidate
    normal = Path(os.path.normpath(joined))
    parent = normal.parent.resolve()
    resolved = parent / normal.name if normal != root else root
    if resolved != root and not resolved.is_relative_to(root):
        raise OutsideRoot(f"{requested} is outside {root}")
    return resolved


def collect(root: Path, paths: list[str], max_bytes: int) -> Targets:
    """The readable text files under `paths` (relative to `root`)."""
    root = root.resolve()
    out = Targets()
    seen: set[Path] = set()
    for requested in paths or ["."]:
        start = within(root, requested)
        if start.is_dir() and not start.is_symlink():
            for dirpath, dirnames, filenames in os.walk(start):
                dirnames[:] = sorted(d for d in dirnames if d not in PRUNED_DIRS)
                for name in sorted(filenames):
                    _consider(root, Path(dirpath) / name, max_bytes, out, seen)
                for name in dirnames:
                    link = Path(dirpath) / name
                    if link.is_symlink():
                        _consider(root, link, max_bytes, out, seen)
        else:
            _consider(root, start, max_bytes, out, seen)
    return out


def check_file(root: Path, path: Path, max_bytes: int) -> str | None:
    """Why `path` cannot be reviewed, or None when it can."""
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return "broken symlink"
        if not target.is_relative_to(root):
            return "symlink out of the tree"
        if target.is_dir():
            return "symlink to a directory"
        path = target
    try:
        info = path.stat()
    except FileNotFoundError:
        return "not found"
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    if not path.is_file():
        return "not a regular file"
    if info.st_size > max_bytes:
        return f"too large: {info.st_size} bytes > {max_bytes}"
    try:
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    if b"\0" in head:
        return "binary"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the sniff boundary
            return "binary (not UTF-8 text)"
    return None


def _consider(root: Path, path: Path, max_bytes: int, out: Targets, seen: set[Path]) -> None:
    if path in seen:
        return
    seen.add(path)
    reason = check_file(root, path, max_bytes)
    rel = relative(root, path)
    if reason is None:
        out.files.append(path.resolve())
    else:
        out.skipped.append(Skipped(path=rel, reason=reason))
