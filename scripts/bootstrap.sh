# Sourced by the other scripts: make .venv with Python 3.11 and install acc into it.
# EXTRAS selects optional dependencies, e.g. EXTRAS="[dev]".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/python ]; then
    PY=""
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
            PY="$candidate"
            break
        fi
    done
    if [ -z "$PY" ]; then
        echo "error: acc needs Python 3.11 (python3.11 or python3 on PATH)" >&2
        exit 1
    fi
    "$PY" -m venv .venv
fi
echo "Installing acc${EXTRAS:-} into .venv ..."
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${EXTRAS:-}"
# semgrep (the review engine, review/semgrep.py) pins an older OpenTelemetry than acc, so it
# lives in an environment of its own; `semgrep` in .venv/bin points at it.
SEMGREP_VERSION=1.182.0
if [ ! -d ".tools/semgrep/lib/python3.11/site-packages/semgrep-${SEMGREP_VERSION}.dist-info" ]; then
    echo "Installing semgrep ${SEMGREP_VERSION} into .tools/semgrep ..."
    rm -rf .tools/semgrep
    .venv/bin/python -m venv .tools/semgrep
    .tools/semgrep/bin/python -m pip install --quiet --disable-pip-version-check \
        "semgrep==${SEMGREP_VERSION}"
fi
ln -sf ../../.tools/semgrep/bin/semgrep .venv/bin/semgrep
# The sandbox steps run in (agents/sandbox.py) is bubblewrap, from the system's packages.
if ! command -v bwrap >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "Installing bubblewrap (the sandbox of agent steps) ..."
        apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null 2>&1 ||
            (apt-get update -qq >/dev/null 2>&1 &&
                apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null 2>&1) ||
            echo "note: could not install bubblewrap; steps will run without a sandbox" >&2
    else
        echo "note: bubblewrap (bwrap) is not installed: steps run without a sandbox;" \
            "install it with your package manager (see docs/SECURITY.md)" >&2
    fi
fi
