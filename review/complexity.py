"""Complexity per function: cyclomatic (McCabe) and cognitive (SonarSource's), by lizard,
which reads Python, JavaScript/TypeScript, Go, Java and many more."""

from __future__ import annotations

import sys
from pathlib import Path

# lizard puts the running script's folder first on sys.path when imported (for Windows'
# embeddable Python); under `python -m cli` that is cli/, whose agents.py would then
# shadow the agents package in every later import. Keep the path as it was.
_PATH = list(sys.path)
import lizard  # noqa: E402
from lizard_ext.lizardcognitive import LizardExtension as Cognitive  # noqa: E402

sys.path[:] = _PATH

from review.models import FunctionComplexity  # noqa: E402

LANGUAGE_SUFFIXES = frozenset(
    [
        ".py",
        ".js",
        ".jsx",
        ".mjs",
        ".cjs",
        ".ts",
        ".tsx",
        ".go",
        ".java",
        ".kt",
        ".scala",
        ".rs",
        ".c",
        ".h",
        ".cc",
        ".cpp",
        ".hpp",
        ".cs",
        ".rb",
        ".php",
        ".swift",
    ]
)


def _analyzer() -> lizard.FileAnalyzer:
    return lizard.FileAnalyzer(lizard.get_extensions([Cognitive()]))


def measure(root: Path, files: list[Path]) -> tuple[list[FunctionComplexity], list[str]]:
    """Every function's figures, and the files lizard could not read."""
    analyzer = _analyzer()
    out: list[FunctionComplexity] = []
    errors: list[str] = []
    for path in files:
        if path.suffix.lower() not in LANGUAGE_SUFFIXES:
            continue
        rel = path.relative_to(root).as_posix()
        try:
            source = path.read_text(encoding="utf-8", errors="replace")
            info = analyzer.analyze_source_code(str(path), source)
        except Exception as exc:  # a reader bug on one odd file never fails the review
            errors.append(f"{rel}: complexity not measured: {exc}")
            continue
        for fn in info.function_list:
            out.append(
                FunctionComplexity(
                    path=rel,
                    name=fn.name,
                    line=fn.start_line,
                    end_line=fn.end_line,
                    cyclomatic=fn.cyclomatic_complexity,
                    cognitive=getattr(fn, "cognitive_complexity", None),
                    nloc=fn.nloc,
                    parameters=len(fn.parameters),
                )
            )
    return out, errors
