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

import contextlib
import functools
import os
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from temporalio.exceptions import ApplicationError

from core.settings import Settings

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


@dataclass(frozen=True)
class Layout:
    """What a sandboxed process sees besides the read-only system."""

    workdir: Path  # read-write, its current directory
    mount_at: str = WORKSPACE  # where it sees `workdir` (and its HOME, for `nobody`)
    writable: Sequence[Path] = ()  # more read-write places, each at its own path
    readable: Sequence[Path] = ()  # more read-only places, each at its own path
    network: bool = False
    # `nobody`, or (for an agent that works on the worker's own files, such as a git
    # worktree) the worker's user with no capabilities and root's private files masked.
    as_nobody: bool = True


def wrap(argv: Sequence[str], layout: Layout) -> list[str]:
    """`argv` run inside the sandbox `layout` describes, dying with its parent. A root
    worker builds the namespaces as root, then the command runs without capabilities and
    without a way to gain any (as `nobody` unless the layout says otherwise); a worker
    that is not root builds them in a user namespace of its own."""
    if _BWRAP is None or _SETPRIV is None:
        raise RuntimeError("bubblewrap (bwrap) and setpriv are needed for the sandbox")
    root = os.geteuid() == 0
    isolation = ["--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    isolation += [] if root else ["--unshare-user"]
    isolation += [] if layout.network else ["--unshare-net"]
    mounts: list[str] = []
    for path in SYSTEM:
        mounts += ["--ro-bind-try", path, path]
    for path in MERGED:  # symlinks into /usr on merged systems, directories on others
        if os.path.islink(path):
            mounts += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            mounts += ["--ro-bind", path, path]
    if root and not layout.as_nobody:
        mounts += _masked_private_files()
    mounts += ["--dev", "/dev", "--proc", "/proc", "--perms", "1777", "--tmpfs", "/tmp"]
    for place in layout.readable:
        mounts += ["--ro-bind", str(place), str(place)]
    for place in layout.writable:
        mounts += ["--bind", str(place), str(place)]
    mounts += ["--bind", str(layout.workdir), layout.mount_at, "--chdir", layout.mount_at]
    if layout.as_nobody:
        mounts += ["--setenv", "HOME", layout.mount_at, "--setenv", "PWD", layout.mount_at]
    drop = [_SETPRIV]
    if root and layout.as_nobody:
        drop += [f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
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


@functools.cache
def _masked_private_files() -> list[str]:
    """Mounts hiding what the system keeps from everyone but root (/etc/shadow, host
    keys, private key folders): a process left as root, even without capabilities, owns
    them and could read them otherwise."""
    mounts: list[str] = []
    for folder, dirs, files in os.walk("/etc"):
        for name in list(dirs):
            path = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                if not os.path.islink(path) and not os.stat(path).st_mode & stat.S_IROTH:
                    mounts += ["--tmpfs", path]
                    dirs.remove(name)
        for name in files:
            path = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                info = os.lstat(path)
                if stat.S_ISREG(info.st_mode) and not info.st_mode & stat.S_IROTH:
                    mounts += ["--ro-bind", "/dev/null", path]
    return mounts


def use_sandbox(settings: Settings) -> bool:
    """Whether steps run in the sandbox: always when bubblewrap is here (ACC_SANDBOX=auto,
    the default) or required (on); never with off. Without it, a production worker refuses
    the step; a development one runs it as is (the worker warns at start)."""
    if settings.SANDBOX == "off":
        return False
    if available():
        return True
    if settings.SANDBOX == "on" or settings.ENVIRONMENT == "production":
        raise ApplicationError(
            "this step must run in the sandbox, and bubblewrap (bwrap) is not installed on "
            "the worker: install it (apt-get install bubblewrap), or set ACC_SANDBOX=off to "
            "run steps without it",
            type="SandboxUnavailable",
            non_retryable=True,
        )
    return False
