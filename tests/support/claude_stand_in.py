#!/usr/bin/env python3
"""TEST DOUBLE of the external Claude Code CLI (`claude`). It is not Claude Code and calls no model.

The claude_code backend's integration tests point `Settings.CLAUDE_CLI` (ACC_CLAUDE_CLI) here. It
accepts only the headless invocation that backend makes,

    claude -p --output-format stream-json --verbose [--model M] [--allowedTools T1,T2]
           [--max-turns N] [--resume=ID | --resume ID] -- PROMPT

answers anything else as the real CLI does (a message on stderr, exit code 1), and replays a
stream-json transcript from tests/support/transcripts/ line by line, with tiny sleeps. The
transcripts follow, field for field, output captured from real `claude -p` runs (2.x).

- Transcript: $CLAUDE_STAND_IN_TRANSCRIPT, else a `[transcript:NAME]` marker in the prompt, else
  `success`.
- Placeholders in a transcript: `{session_id}` (the resumed id, else a new uuid) and `{cwd}`.
- Lines starting with `//` are directives, never printed: `// write PATH` creates PATH under the
  working directory (what the transcript's Write tool did), `// hang` starts a `sleep` child in
  this process group and then waits forever (for the timeout and cancel tests), `// background`
  starts one that outlives this process holding its stdout, `// exit N` sets the exit code (the
  real CLI exits 1 after an error result).
- With $CLAUDE_STAND_IN_LOG set, every run appends JSON lines to it: its argv, cwd, pid, process
  group and session id, and `child_pid` once `// hang` started one. A `--resume` of a session this
  log has not seen in the same working directory fails like the real CLI ("No conversation found").
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

TRANSCRIPTS = Path(__file__).resolve().parent / "transcripts"
VALUE_FLAGS = {"--output-format", "--model", "--allowedTools", "--max-turns", "--resume"}
BOOLEAN_FLAGS = {"-p", "--print", "--verbose"}


def fail(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
    sys.exit(1)


def parse(argv: list[str]) -> tuple[dict[str, str | bool], str]:
    options: dict[str, str | bool] = {}
    positional: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--":
            positional.extend(args)
        elif arg in BOOLEAN_FLAGS:
            options["print" if arg in {"-p", "--print"} else arg[2:]] = True
        elif arg.split("=", 1)[0] in VALUE_FLAGS:
            name, _, value = arg.partition("=")
            options[name[2:]] = value if "=" in arg else next(args, "")
        elif arg.startswith("-"):
            fail(f"error: unknown option '{arg}'")
        else:
            positional.append(arg)
    if not options.get("print"):
        fail("stand-in: only headless runs (-p) are supported")
    if options.get("output-format") != "stream-json":
        fail("stand-in: expected --output-format stream-json")
    if not options.get("verbose"):
        fail("Error: When using --print, --output-format=stream-json requires --verbose")
    if len(positional) != 1 or not positional[0].strip():
        fail("Error: Input must be provided either through stdin or as a prompt argument")
    if "max-turns" in options and not str(options["max-turns"]).isdigit():
        fail("error: --max-turns must be a positive integer")
    return options, positional[0]


def log(record: dict[str, object]) -> None:
    if path := os.environ.get("CLAUDE_STAND_IN_LOG"):
        with open(path, "a") as out:
            out.write(json.dumps(record) + "\n")


def known_session(session_id: str, cwd: str) -> bool:
    path = os.environ.get("CLAUDE_STAND_IN_LOG")
    if not path or not os.path.exists(path):
        return not path  # without a log there is nothing to check against
    with open(path) as records:
        return any(
            r.get("session_id") == session_id and r.get("cwd") == cwd
            for r in map(json.loads, records)
        )


def main() -> int:
    options, prompt = parse(sys.argv[1:])
    cwd = os.getcwd()
    resume = options.get("resume")
    if isinstance(resume, str) and not known_session(resume, cwd):
        fail(f"No conversation found with session ID: {resume}")
    session_id = resume if isinstance(resume, str) else str(uuid.uuid4())
    marker = re.search(r"\[transcript:([\w-]+)\]", prompt)
    name = os.environ.get("CLAUDE_STAND_IN_TRANSCRIPT") or (marker and marker[1]) or "success"
    log(
        {
            "argv": sys.argv[1:],
            "cwd": cwd,
            "pid": os.getpid(),
            "pgid": os.getpgid(0),
            "session_id": session_id,
            "transcript": name,
        }
    )
    delay = float(os.environ.get("CLAUDE_STAND_IN_DELAY", "0.01"))
    code = 0
    for line in (TRANSCRIPTS / f"{name}.jsonl").read_text().splitlines():
        if line.startswith("// write "):
            Path(cwd, line.removeprefix("// write ")).write_text("written by the stand-in\n")
        elif line.startswith("// exit "):
            code = int(line.removeprefix("// exit "))
        elif line.strip() == "// background":  # like `npm run dev &`: keeps our stdout open
            child = subprocess.Popen(["sleep", "600"])
            log({"child_pid": child.pid, "pid": os.getpid()})
        elif line.strip() == "// hang":
            child = subprocess.Popen(["sleep", "600"])
            log({"child_pid": child.pid, "pid": os.getpid()})
            time.sleep(600)
        elif line.strip():
            line = line.replace("{session_id}", session_id)
            print(line.replace("{cwd}", json.dumps(cwd)[1:-1]), flush=True)
            time.sleep(delay)
    return code


if __name__ == "__main__":
    sys.exit(main())
