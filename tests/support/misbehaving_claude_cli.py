#!/usr/bin/env python3
"""A FAKE `claude` executable for the two failures the real CLI cannot be made to show on
demand; every other claude_code test runs the real CLI (tests/support/real_claude.py).

It is not Claude Code and calls no model. It prints a few stream-json lines shaped like the
real CLI's (see the transcripts in tests/support/transcripts/, recorded from it), then
misbehaves as $MISBEHAVE says:

- `crash`: dies with exit code 3 and a message on stderr before any `result` line, as a CLI
  killed by the kernel or crashing on a bug would;
- `background`: writes its result and exits 0, leaving a `sleep` child that still holds its
  stdout open (like a tool that started `npm run dev &`), so EOF never comes by itself.

With $MISBEHAVE_LOG set, it appends one JSON line with its pid and the child's pid.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid


def emit(message: dict[str, object]) -> None:
    print(json.dumps(message), flush=True)


def main() -> int:
    session = str(uuid.uuid4())
    how = os.environ.get("MISBEHAVE", "crash")
    emit({"type": "system", "subtype": "init", "session_id": session, "model": "fake"})
    text = {"type": "text", "text": "Starting."}
    emit({"type": "assistant", "message": {"content": [text]}, "session_id": session})
    if how == "crash":
        print("fatal: out of memory (fake)", file=sys.stderr, flush=True)
        return 3
    child = subprocess.Popen(["sleep", "600"])  # inherits stdout
    if path := os.environ.get("MISBEHAVE_LOG"):
        with open(path, "a") as log:
            log.write(json.dumps({"pid": os.getpid(), "child_pid": child.pid}) + "\n")
    emit(
        {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "result": "The preview server is running.",
            "session_id": session,
            "total_cost_usd": 0,
            "modelUsage": {},
            "permission_denials": [],
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
