"""The sandbox agent processes run in: namespaces built by bubblewrap, entered as `nobody`.

A sandboxed step sees a read-only system (/usr, /etc and the like), its run directory at
/workspace (the only place it can write, its home and current directory), a private
/tmp, its own /proc and PID namespace (no other process, the worker's environment
included, is visible), no network unless its spec allows it, and nothing else: no other
run's directory, none of acc's databases, no home directory. It runs as the unprivileged
`nobody` (setpriv drops root once bubblewrap has built the namespaces), so what the
system keeps readable to root only stays closed, without capabilities or a way to gain
any (no new privileges), and it dies with its worker (parent-death signal).

The shell allow-list stays a first filter; interpreters and tools that run their
arguments (sh, python3, awk, sed, git...) are only safe inside this sandbox.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

NOBODY = 65534
WORKSPACE = "/workspace"  # where a step finds its run directory (and its home)
_BWRAP, _SETPRIV = shutil.which("bwrap"), shutil.which("setpriv")
# What a step may read of the system: binaries, libraries, configuration (as nobody).
SYSTEM = ("/usr", "/etc", "/opt")
MERGED = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


def available() -> bool:
    return _BWRAP is not None and _SETPRIV is not None


def prepare(workdir: Path) -> None:
    """The run directory, writable by the sandboxed `nobody` and by nobody else's steps."""
    workdir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0 and workdir.stat().st_uid != NOBODY:
        os.chown(workdir, NOBODY, NOBODY)
        workdir.chmod(0o700)


def wrap(argv: Sequence[str], workdir: Path, *, network: bool = False) -> list[str]:
    """`argv` run inside the sandbox with `workdir` as its WORKSPACE (its home and current
    directory), dying with its parent. A root worker builds the namespaces as root, then
    the command drops to `nobody` with no capabilities and no way to gain any; a worker
    that is not root builds them in a user namespace of its own."""
    if _BWRAP is None or _SETPRIV is None:
        raise RuntimeError("bubblewrap (bwrap) and setpriv are needed for the sandbox")
    root = os.geteuid() == 0
    isolation = ["--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    isolation += [] if root else ["--unshare-user"]
    isolation += [] if network else ["--unshare-net"]
    mounts: list[str] = []
    for path in SYSTEM:
        mounts += ["--ro-bind-try", path, path]
    for path in MERGED:  # symlinks into /usr on merged systems, directories on others
        if os.path.islink(path):
            mounts += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            mounts += ["--ro-bind", path, path]
    mounts += ["--dev", "/dev", "--proc", "/proc", "--perms", "1777", "--tmpfs", "/tmp"]
    mounts += ["--bind", str(workdir), WORKSPACE, "--chdir", WORKSPACE]
    mounts += ["--setenv", "HOME", WORKSPACE, "--setenv", "PWD", WORKSPACE]
    drop = (
        [_SETPRIV, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        if root
        else [_SETPRIV]
    )
    drop += ["--no-new-privs", "--bounding-set=-all", "--inh-caps=-all", "--"]
    return [
        _SETPRIV,
        "--pdeathsig",
        "KILL",
        "--",
        _BWRAP,
        *isolation,
        "--die-with-parent",
        "--new-session",
        *mounts,
        "--",
        *drop,
        *argv,
    ]
