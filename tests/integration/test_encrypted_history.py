"""With payload keys, Temporal stores ciphertext: a secret given to a run (its input, and
an agent's error quoting it) never appears in the raw history, while the API's timeline,
the Web UI's codec endpoint and replay read it."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from core import temporal
from core.codec import new_key_line
from core.settings import Settings
from tests.conftest import api_client, running_workers

pytestmark = pytest.mark.integration
SECRET = "hunter2-7f3a9c"


async def test_a_secret_is_ciphertext_in_history_and_plain_through_the_api(
    temporal_env: WorkflowEnvironment, make_settings: Callable[..., Settings]
) -> None:
    address = temporal_env.client.service_client.config.target_host
    settings = make_settings(TEMPORAL_ADDRESS=address, PAYLOAD_KEYS=new_key_line("k1"))
    leak = "import sys; print('saw ' + sys.stdin.read(), file=sys.stderr); sys.exit(3)"
    spec = {
        "name": "secret",
        "input": SECRET,
        "steps": [
            {"name": "echo", "agent": {"backend": "shell", "command": ["cat"]}},
            {"name": "leak", "agent": {"backend": "shell", "command": ["python3", "-c", leak]}},
        ],
    }
    client = await temporal.connect(settings)
    async with running_workers(client, settings), api_client(settings) as http:
        run_id = (await http.post("/v1/runs", json=spec)).json()["id"]
        view = (await http.get(f"/v1/runs/{run_id}", params={"wait": 30})).json()
        assert view["status"] == "failed" and SECRET in view["error"]
        timeline = (await http.get(f"/v1/runs/{run_id}/timeline")).json()
        assert any(SECRET in (e.get("output") or "") for e in timeline["entries"])
        raw_client = await Client.connect(address)  # no codec: what the server stores
        raw = await raw_client.get_workflow_handle(run_id).fetch_history()
        stored = json.dumps(raw.to_json_dict())
        assert SECRET not in stored and "hunter2" not in stored
        sealed = raw.events[0].workflow_execution_started_event_attributes.input.payloads[0]
        body = {"payloads": [json.loads(_to_json(sealed))]}
        decoded = (await http.post("/codec/decode", json=body)).json()
        assert SECRET in json.dumps(decoded) or _b64_contains(decoded, SECRET)


def _to_json(payload: object) -> str:
    from google.protobuf import json_format

    return json_format.MessageToJson(payload)  # type: ignore[arg-type]


def _b64_contains(body: dict[str, object], text: str) -> bool:
    import base64

    payloads = body.get("payloads") or []
    return any(text.encode() in base64.b64decode(p["data"]) for p in payloads)  # type: ignore[index]
