#!/usr/bin/env bash
# Install acc, bring the whole stack up on this machine, run the bundled example pipeline,
# and keep serving until Ctrl-C. Extra arguments go to `acc up`.
EXTRAS="" source "$(dirname "$0")/bootstrap.sh"
bash scripts/web-build.sh
exec .venv/bin/acc up --example "$@"
