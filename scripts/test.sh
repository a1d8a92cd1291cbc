#!/usr/bin/env bash
# Install acc with its development tools, then lint, type-check and run every test against
# real servers (Temporal, Tansu, Redis, SQL). Extra arguments go to pytest.
EXTRAS="[dev]" source "$(dirname "$0")/bootstrap.sh"
# The real Claude Code CLI the claude_code tests drive, at the version pinned in
# tests/support/claude-cli/package-lock.json (into its git-ignored node_modules).
if ! command -v npm >/dev/null 2>&1; then
    echo "error: the tests need Node.js and npm to install the pinned Claude Code CLI" >&2
    exit 1
fi
npm ci --prefix tests/support/claude-cli --no-audit --no-fund --prefer-offline --loglevel=error
# The published schemas of the custom resources the Helm chart renders (KEDA, Argo, cert-manager,
# Prometheus Operator), pinned in tests/support/crd-schemas/package-lock.json.
npm ci --prefix tests/support/crd-schemas --no-audit --no-fund --prefer-offline --loglevel=error
# The browser the dashboard's tests drive: Debian's Chromium (Playwright never downloads one).
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "Installing Chromium (the dashboard's browser tests) ..."
        apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 ||
            (apt-get update -qq >/dev/null 2>&1 &&
                apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1) ||
            echo "note: could not install chromium; the browser tests will be skipped" >&2
    else
        echo "note: no /usr/bin/chromium: the dashboard's browser tests are skipped" >&2
    fi
fi
# The dashboard: its packages and build (the browser tests open it), then its component tests.
bash scripts/web-build.sh
npm --prefix web run --silent test -- --reporter=dot
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/pytest "$@"
