"""Review speed and the shipped rules' precision, in one run:

1. a generated 10,000-line Python file under the full shipped rule set: the engine
   (`review.engine.review`: targets, one semgrep run, complexity, suggestions) against the
   semgrep CLI alone on the same rules and file (p50 and max of N runs, alternating);
2. files/s and lines/s of the engine over the Python standard library (the top-level
   modules of the running interpreter's Lib by default, `--stdlib all` for every package
   but the tests and site-packages);
3. precision and recall of every rule pack on its own test file: a finding on a line a
   `ruleid:` annotation names is a true positive, any other finding (on an `ok:` line or
   an unannotated one) a false positive, an annotated line without its finding a miss.
   Like `semgrep --test`, a pack's rules count only on that pack's test file.

    .venv/bin/python benchmarks/review_speed.py [--runs 3] [--lines 10000] [--stdlib top|all]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml
from _stack import machine_info, percentile

from review import semgrep
from review.engine import review
from review.models import ReviewRequest
from review.rules import RULES_DIR, load_packs, pack_files

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
ANNOTATION = re.compile(r"\b(ruleid|ok):\s*([\w.-]+)")


def source(lines: int) -> str:
    parts = ["import hashlib\nimport yaml\n"]
    i = 0
    while sum(p.count("\n") for p in parts) < lines:
        parts.append(CHUNK.format(i=i))
        if i % 50 == 0:
            parts.append(f"\n\ndef risky_{i}(t):\n    return yaml.load(t)\n")
        i += 1
    return "".join(parts)


def big_file(runs: int, lines: int) -> list[str]:
    rules, raws = load_packs()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tree"
        root.mkdir()
        target = root / "big.py"
        target.write_text(source(lines))
        config = Path(tmp) / "rules.yaml"
        config.write_text(yaml.safe_dump({"rules": list(raws)}, sort_keys=False))
        argv = semgrep.command(semgrep.executable(), config, [target], 300)
        cli: list[float] = []
        engine: list[float] = []
        found = 0
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(argv, env=semgrep.environment(), capture_output=True, check=True)
            cli.append(time.perf_counter() - started)
            started = time.perf_counter()
            report = review(ReviewRequest(root=str(root)))
            engine.append(time.perf_counter() - started)
            found = len(report.suggestions)
    p50_cli, p50_engine = percentile(cli, 50), percentile(engine, 50)
    return [
        f"### {lines:,}-line Python file, {len(rules)} rules, {runs} runs ({found} suggestions)",
        "",
        "| | p50 s | max s |",
        "|---|---|---|",
        f"| semgrep CLI alone | {p50_cli:.2f} | {max(cli):.2f} |",
        f"| acc review engine | {p50_engine:.2f} | {max(engine):.2f} |",
        f"| engine overhead (p50) | {p50_engine - p50_cli:+.2f} | |",
    ]


def stdlib_paths(scope: str) -> tuple[Path, list[str]]:
    lib = Path(sysconfig.get_paths()["stdlib"])
    if scope == "top":
        return lib, sorted(p.name for p in lib.glob("*.py"))
    skip = {"site-packages", "test", "idlelib", "lib2to3", "tkinter", "turtledemo"}
    names = [p.name for p in lib.iterdir() if p.name not in skip and not p.name.startswith(".")]
    return lib, sorted(n for n in names if n.endswith(".py") or (lib / n).is_dir())


def stdlib(scope: str) -> list[str]:
    lib, paths = stdlib_paths(scope)
    started = time.perf_counter()
    report = review(ReviewRequest(root=str(lib), paths=paths), timeout=3600)
    took = time.perf_counter() - started
    lines = sum((lib / f).read_bytes().count(b"\n") for f in report.files if (lib / f).is_file())
    by_category = Counter(s.category for s in report.suggestions)
    return [
        f"### Python {sys.version.split()[0]} standard library ({scope}): one review",
        "",
        "| files | lines | seconds | files/s | lines/s | suggestions | skipped |",
        "|---|---|---|---|---|---|---|",
        f"| {len(report.files):,} | {lines:,} | {took:.1f} | {len(report.files) / took:.1f} "
        f"| {lines / took:,.0f} | {len(report.suggestions):,} "
        f"({', '.join(f'{n} {c}' for c, n in by_category.most_common())}) "
        f"| {len(report.skipped)} |",
    ]


def precision() -> list[str]:
    """Each pack's rules on its own test file, one engine run over all of them."""
    rules, _ = load_packs()
    pack_of = {r.id: r.pack for r in rules}
    tests: dict[str, Path] = {}
    for pack in pack_files():
        for test in pack.parent.glob(pack.stem + ".*"):
            if test.suffix != ".yaml":
                tests[test.relative_to(RULES_DIR).as_posix()] = test
    expected: set[tuple[str, str, int]] = set()
    ok_cases = 0
    for rel, test in tests.items():
        lines = test.read_text().splitlines()
        for number, line in enumerate(lines, 1):
            for kind, rule_id in ANNOTATION.findall(line):
                target = number + 1  # an annotation names the line after it
                if kind == "ruleid":
                    expected.add((rel, rule_id, target))
                else:
                    ok_cases += 1
    report = review(ReviewRequest(root=str(RULES_DIR), paths=sorted(tests)), timeout=1200)
    rows = []
    total = Counter[str]()
    for pack in sorted({r.pack for r in rules}):
        found = {
            (s.path, s.rule_id, s.line)
            for s in report.suggestions
            if pack_of.get(s.rule_id) == pack and s.path.rsplit(".", 1)[0] == pack
        }
        want = {e for e in expected if pack_of.get(e[1]) == pack}
        tp, fp, fn = len(found & want), len(found - want), len(want - found)
        total.update(tp=tp, fp=fp, fn=fn)
        rows.append((pack, tp, fp, fn))
    lines = [
        f"### Shipped rules on their own tests ({len(rules)} rules, {len(expected)} `ruleid` "
        f"cases, {ok_cases} `ok` cases)",
        "",
        "| pack | true pos. | false pos. | missed | precision | recall |",
        "|---|---|---|---|---|---|",
    ]
    for pack, tp, fp, fn in [*rows, ("all", total["tp"], total["fp"], total["fn"])]:
        prec = f"{tp / (tp + fp):.2f}" if tp + fp else "-"
        rec = f"{tp / (tp + fn):.2f}" if tp + fn else "-"
        lines.append(f"| {pack} | {tp} | {fp} | {fn} | {prec} | {rec} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--stdlib", choices=["top", "all"], default="top")
    args = parser.parse_args()
    info = machine_info()
    out = [f"{info['date']}, {info['nproc']} cores ({info['cpu']}), load {info['loadavg']}", ""]
    out += [*big_file(args.runs, args.lines), ""]
    out += [*stdlib(args.stdlib), ""]
    out += precision()
    out += ["", f"load average at the end: {machine_info()['loadavg']}"]
    print("\n".join(out))


if __name__ == "__main__":
    main()
