#!/usr/bin/env bash
# Back up or restore what acc owns in SQL: artifacts, step receipts, API keys (hashed), the
# audit log and every other acc table, in ACC_DATABASE_URL (schema ACC_DATABASE_SCHEMA when
# set). Temporal keeps run state and histories: back it up per Temporal's own docs. Redis
# holds only ephemeral coordination (breakers, leases, rate limits): nothing to back up.
#
#   acc-db.sh backup FILE     PostgreSQL: pg_dump custom format; SQLite: an online copy
#                             (SQLite's backup API through python3)
#   acc-db.sh restore FILE    replaces acc's tables with the backup's (the file is checked
#                             first: a bad one changes nothing)
#
# On Kubernetes run it where ACC_DATABASE_URL is set, e.g. from a CronJob with the acc
# image's environment, or: kubectl exec deploy/acc-api -- deploy/backup/acc-db.sh ...
set -euo pipefail

usage() {
    echo "usage: $0 backup|restore FILE  (reads ACC_DATABASE_URL, ACC_DATABASE_SCHEMA)" >&2
    exit 2
}
[ $# -eq 2 ] || usage
action=$1
file=$2
url=${ACC_DATABASE_URL:-}
schema=${ACC_DATABASE_SCHEMA:-}
if [ -z "$url" ]; then
    echo "error: ACC_DATABASE_URL is not set: point it at the database to $action" >&2
    exit 2
fi

case "$url" in
postgres://* | postgresql://* | postgresql+asyncpg://*)
    url="postgresql://${url#*://}" # libpq does not know SQLAlchemy's driver suffix
    schema_args=()
    [ -n "$schema" ] && schema_args=(--schema="$schema")
    case "$action" in
    backup)
        pg_dump --format=custom --no-owner --no-privileges "${schema_args[@]}" \
            --file="$file.partial" "$url"
        mv "$file.partial" "$file"
        ;;
    restore)
        if ! pg_restore --list "$file" >/dev/null 2>&1; then
            echo "error: $file is not a pg_dump archive of acc: nothing was changed" >&2
            exit 1
        fi
        pg_restore --clean --if-exists --no-owner --no-privileges --single-transaction \
            --exit-on-error --dbname="$url" "$file"
        ;;
    *) usage ;;
    esac
    ;;
sqlite:///* | sqlite+aiosqlite:///*)
    rest="${url#*://}" # sqlite:///relative/file or sqlite:////absolute/file
    db="${rest#/}"
    [ "$action" = backup ] || [ "$action" = restore ] || usage
    # SQLite's online backup API, through Python's sqlite3 (no sqlite3 CLI needed)
    "${PYTHON:-python3}" - "$action" "$db" "$file" <<'PY'
import sqlite3, sys
from pathlib import Path

action, db, file = sys.argv[1:]
if action == "backup":
    if not Path(db).is_file():
        sys.exit(f"error: no database at {db}")
    partial = file + ".partial"
    with sqlite3.connect(db) as src, sqlite3.connect(partial) as dst:
        src.backup(dst)
    Path(partial).replace(file)
else:
    try:
        with sqlite3.connect(f"file:{file}?mode=ro", uri=True) as src:
            ok = src.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            src.execute("SELECT 1 FROM alembic_version LIMIT 1")
    except sqlite3.Error:
        ok = False
    if not ok:
        sys.exit(f"error: {file} is not a SQLite backup of acc: nothing was changed")
    with sqlite3.connect(f"file:{file}?mode=ro", uri=True) as src, sqlite3.connect(db) as dst:
        src.backup(dst)
PY
    ;;
*)
    echo "error: ACC_DATABASE_URL is neither PostgreSQL nor SQLite" >&2
    exit 2
    ;;
esac
echo "$action done: $file"
