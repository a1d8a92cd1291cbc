"""The folders a run leaves on its worker: `DATA_DIR/runs/<run id>` (steps' working
directory, Claude Code's saved sessions) and `DATA_DIR/worktrees/<run id>/<role>` (the
claude_code backend's git worktrees). Removed once the run is closed, by the retention job;
a removed worktree is also forgotten by its repository (`git worktree prune`).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

KINDS = ("runs", "worktrees")


async def remove_closed(data_dir: Path, closed: Callable[[str], Awaitable[bool]]) -> list[str]:
    """Remove the folders of every run `closed(run_id)` says is done; the removed paths,
    relative to `data_dir`."""
    removed: list[str] = []
    for kind, folder, roles in await asyncio.to_thread(_folders, data_dir):
        if not await closed(folder.name):
            continue
        repos = {git_dir for role in roles if (git_dir := await _common_dir(role))}
        await asyncio.to_thread(shutil.rmtree, folder, ignore_errors=True)
        for git_dir in repos:
            await git("--git-dir", git_dir, "worktree", "prune")
        removed.append(f"{kind}/{folder.name}")
    return removed


def _folders(data_dir: Path) -> list[tuple[str, Path, list[Path]]]:
    """Each run's folder of each kind, with the worktrees (one per role) it holds."""
    found: list[tuple[str, Path, list[Path]]] = []
    for kind in KINDS:
        root = data_dir / kind
        if root.is_dir():
            for folder in sorted(p for p in root.iterdir() if p.is_dir()):
                roles = [r for r in folder.iterdir() if (r / ".git").exists()]
                found.append((kind, folder, roles if kind == "worktrees" else []))
    return found


async def _common_dir(worktree: Path) -> str | None:
    """The git folder of the repository a worktree belongs to."""
    code, out = await git(
        "-C", str(worktree), "rev-parse", "--path-format=absolute", "--git-common-dir"
    )
    return out if code == 0 and out else None


async def git(*args: str) -> tuple[int, str]:
    """Run git; its exit code and combined output (127 when git is missing)."""
    try:
        proc = await asyncio.create_subprocess_exec(
            "git",
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
    except FileNotFoundError:
        return 127, "git is not installed"
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace").strip()
