"""Write the API's OpenAPI document without starting a server (the dashboard's typed client
is generated from it): `python scripts/openapi.py [PATH]`, by default web/openapi.json.

`scripts/web-api.sh` runs this and then openapi-typescript; tests/unit/api/test_openapi_file.py
fails when either generated file no longer matches the API."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "web" / "openapi.json"


def document() -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from api.main import create_app

    return create_app().openapi()  # the routes and models only: settings do not change it


def render() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    target.write_text(render())
    sys.stdout.write(f"wrote {target}\n")
