"""The image's recipe keeps up with the code: every package pyproject.toml installs is
copied into the build (and let through .dockerignore), the runtime is non-root with a pinned
base, and its health check is the one the code provides."""

from __future__ import annotations

import fnmatch
import re
import tomllib

import pytest

from tests.support.chart import ROOT

pytestmark = pytest.mark.unit

DOCKERFILE = (ROOT / "deploy" / "Dockerfile").read_text()
IGNORE = (ROOT / ".dockerignore").read_text().splitlines()


def _packages() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    return {pattern.rstrip("*") for pattern in include}


def _sent_to_docker(path: str) -> bool:
    """Whether .dockerignore lets `path` into the build context (last matching rule wins)."""
    sent = True
    for rule in (r.strip() for r in IGNORE):
        if not rule or rule.startswith("#"):
            continue
        negated = rule.startswith("!")
        pattern = rule.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
            sent = negated
    return sent


def test_every_installed_package_is_copied_into_the_image() -> None:
    copied = set(re.findall(r"^COPY (\w+) \1$", DOCKERFILE, re.MULTILINE))
    assert _packages() <= copied
    for package in _packages() | {"pyproject.toml", "web/package.json"}:
        assert _sent_to_docker(package), package
    assert not _sent_to_docker(".venv/bin/python")
    assert not _sent_to_docker("web/node_modules/react/index.js")
    assert not _sent_to_docker(".git/config")


def test_the_runtime_is_pinned_non_root_and_checks_its_health() -> None:
    bases = re.findall(r"^ARG (\w+_IMAGE)=(\S+)$", DOCKERFILE, re.MULTILINE)
    assert bases and all(re.search(r":\d+\.\d+\.\d+", image) for _, image in bases)
    runtime = DOCKERFILE.split("AS runtime", 1)[1]
    assert re.search(r"^USER 10001:10001$", runtime, re.MULTILINE)
    assert "FROM" not in runtime.split("USER", 1)[1]  # nothing after USER runs as root
    assert "HEALTHCHECK" in runtime and '"core.health"' in runtime
    assert 'ENTRYPOINT ["tini", "--", "acc"]' in runtime
