"""Import time, resident memory and module count of the API and worker processes.

Each case imports a process's entry point in a fresh interpreter and builds what the
process builds before serving (the API's app; the worker's workflow and activity
registrations), then reports the time, VmRSS and `len(sys.modules)`. The baseline, in
the same run, is the bare libraries a process of that kind cannot do without (FastAPI
with the Temporal client; the Temporal worker). `--tree` also measures another checkout
(e.g. a `git worktree` of an earlier commit) with the same interpreter, for before/after.

    python benchmarks/footprint.py --runs 7
    git worktree add /tmp/before HEAD~5 && python benchmarks/footprint.py --tree /tmp/before
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, sys, time
t0 = time.perf_counter()
{body}
elapsed = time.perf_counter() - t0
rss = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS"))
mods = sorted(sys.modules)
count = lambda prefix: sum(m == prefix or m.startswith(prefix + ".") for m in mods)
print(json.dumps([elapsed, rss, len(mods), count("workflows"), count("activities"),
                  count("agents.backends")]))
"""

CASES = {
    "api": "from api.main import create_app\ncreate_app()",
    "worker": "import workers.main",
    "bare: fastapi + temporal client": "import fastapi, temporalio.client\nfastapi.FastAPI()",
    "bare: temporal worker": "import temporalio.worker, temporalio.client",
}


@dataclass
class Row:
    tree: str
    case: str
    import_ms: float
    rss_mb: float
    modules: int
    workflows: int
    activities: int
    backends: int


def measure(body: str, tree: Path) -> list[float]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(body=body)],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    values: list[float] = json.loads(out.stdout)
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters per case (7)")
    parser.add_argument(
        "--tree",
        type=Path,
        action="append",
        default=[],
        help="another checkout to measure too (repeatable)",
    )
    parser.add_argument("--json", type=Path, help="also write results here")
    args = parser.parse_args()
    trees = [("this tree", ROOT)] + [(str(t), t.resolve()) for t in args.tree]
    rows = []
    for label, tree in trees:
        for case, body in CASES.items():
            if case.startswith("bare") and tree != ROOT:
                continue
            samples = [measure(body, tree) for _ in range(args.runs)]
            counts = samples[-1][2:]
            rows.append(
                Row(
                    label,
                    case,
                    statistics.median(s[0] for s in samples) * 1000,
                    statistics.median(s[1] for s in samples) / 1024,
                    *(int(c) for c in counts),
                )
            )
    print(f"Process footprint (median of {args.runs} fresh interpreters)")
    print(f"{'tree':<22} {'case':<32} {'import ms':>9} {'RSS MB':>7} {'modules':>7}", end="")
    print(f" {'workflows':>9} {'activities':>10} {'backends':>8}")
    for r in rows:
        print(
            f"{r.tree[-22:]:<22} {r.case:<32} {r.import_ms:>9.0f} {r.rss_mb:>7.1f} {r.modules:>7}"
            f" {r.workflows:>9} {r.activities:>10} {r.backends:>8}"
        )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2))


if __name__ == "__main__":
    main()
