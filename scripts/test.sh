#!/usr/bin/env bash
# Install acc with its development tools, then lint, type-check and run every test against
# real servers (Temporal, Tansu, Redis, SQL). Extra arguments go to pytest.
EXTRAS="[dev]" source "$(dirname "$0")/bootstrap.sh"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/pytest "$@"
