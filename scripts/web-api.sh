#!/usr/bin/env bash
# Regenerate the dashboard's API types after an endpoint changed: the OpenAPI document
# (from the app, no server) and web/src/api/schema.d.ts (openapi-typescript).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python scripts/openapi.py web/openapi.json
npm --prefix web run --silent api:generate
