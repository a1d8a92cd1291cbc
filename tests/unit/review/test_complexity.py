"""The complexity reader (lizard) as the worker imports it."""

from __future__ import annotations


def test_importing_the_complexity_reader_leaves_sys_path_alone() -> None:
    """lizard adds its caller's folder to sys.path on import; under `python -m cli` that
    folder's agents.py would shadow the agents package in the worker."""
    import subprocess
    import sys

    probe = (
        "import sys; sys.argv[0] = '/somewhere/cli/__main__.py'; before = list(sys.path); "
        "import review.complexity; assert sys.path == before, set(sys.path) - set(before)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
