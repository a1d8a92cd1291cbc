#!/usr/bin/env bash
# Build the dashboard (web/dist, served by the API at /): `npm ci` when package-lock.json
# changed since the last install, `npm run build` when a source changed since the last
# build; otherwise nothing. Without Node.js/npm it says so and the API serves a page
# that tells how to build it.
set -euo pipefail
cd "$(dirname "$0")/../web"
if ! command -v npm >/dev/null 2>&1; then
    echo "note: Node.js 20 and npm are needed to build the dashboard (web/); skipping it" >&2
    exit 0
fi
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.acc-lock-sum 2>/dev/null || true)" != "$lock_sum" ]; then
    echo "Installing the dashboard's packages (npm ci) ..."
    npm ci --no-audit --no-fund --prefer-offline --loglevel=error
    echo "$lock_sum" > node_modules/.acc-lock-sum
fi
source_sum=$(
    find src index.html package-lock.json tsconfig.json vite.config.ts openapi.json -type f \
        -not -name '*.test.ts' -not -name '*.test.tsx' -print0 |
        sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
)
if [ "$(cat dist/.acc-source-sum 2>/dev/null || true)" != "$source_sum" ]; then
    echo "Building the dashboard (web/dist) ..."
    npm run --silent build -- --logLevel warn
    echo "$source_sum" > dist/.acc-source-sum
fi
