"""Review engine overhead: a 10,000-line Python file under the full shipped rule set,
`review.engine.review` (targets, one semgrep run, complexity, suggestions) against the
semgrep CLI alone on the same rules and file, same run. Prints p50/max of N runs.

    .venv/bin/python benchmarks/code_review.py [--runs 5] [--lines 10000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

from review import semgrep
from review.engine import review
from review.models import ReviewRequest
from review.rules import load_packs

CHUNK = """

def handler_{i}(request, cur, items):
    name = request.args.get("name")
    if len(items) == 0:
        return None
    total = 0
    for item in items:
        if item.kind == "a" or item.kind == "b":
            total += item.value
    cur.execute("SELECT * FROM t WHERE id = %s", (name,))
    return total
"""


def source(lines: int) -> str:
    parts = ["import hashlib\nimport yaml\n"]
    i = 0
    while sum(p.count("\n") for p in parts) < lines:
        parts.append(CHUNK.format(i=i))
        if i % 50 == 0:
            parts.append(f"\n\ndef risky_{i}(t):\n    return yaml.load(t)\n")
        i += 1
    return "".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--lines", type=int, default=10_000)
    args = parser.parse_args()
    rules, raws = load_packs()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tree"
        root.mkdir()
        target = root / "big.py"
        target.write_text(source(args.lines))
        config = Path(tmp) / "rules.yaml"
        config.write_text(yaml.safe_dump({"rules": list(raws)}, sort_keys=False))
        argv = semgrep.command(semgrep.executable(), config, [target], 300)
        cli: list[float] = []
        engine: list[float] = []
        found = 0
        for _ in range(args.runs):
            started = time.perf_counter()
            subprocess.run(argv, env=semgrep.environment(), capture_output=True, check=True)
            cli.append(time.perf_counter() - started)
            started = time.perf_counter()
            report = review(ReviewRequest(root=str(root)))
            engine.append(time.perf_counter() - started)
            found = len(report.suggestions)
    print(f"{args.lines} lines, {len(rules)} rules, {found} suggestions, {args.runs} runs")
    print(f"{'':28} {'p50 s':>8} {'max s':>8}")
    print(f"{'semgrep CLI alone':28} {statistics.median(cli):8.2f} {max(cli):8.2f}")
    print(f"{'acc review engine':28} {statistics.median(engine):8.2f} {max(engine):8.2f}")
    print(f"{'engine overhead (p50)':28} {statistics.median(engine) - statistics.median(cli):8.2f}")


if __name__ == "__main__":
    main()
