"""The WebSocket protocol between a pool node and its clients (agents and subscribers).

Every frame is one JSON object with a `type` and the protocol version `v`; the JSON Schema
of every message is in docs/pool-protocol.schema.json (`acc pool --schema` prints it).

    client                                  pool node
    hello {token, role, capabilities...} ->
                                         <- registered {connection_id, node, agent_id...}
                                         <- task {task_id, task}
    accepted {task_id}                   ->
    progress {task_id, details}          ->      (heartbeats the step in Temporal)
    result {task_id, output...}          ->      (completes the step)
      or error {task_id, message...}     ->      (fails the attempt; retried per the spec)
                                         <- cancel {task_id, reason}   (the run cancelled)
    ping {nonce}                         <- -> pong {nonce}   (either side may ask)
                                         <- reconnect {reason, after_seconds}
    subscribe {channel, after}           ->
                                         <- subscribed {channel, position}
                                         <- event {channel, position, event}
    unsubscribe {channel}                ->

Close codes: 1007 malformed JSON, an unknown type or a message that does not fit its
schema; 1008 a bad or missing token, a missing scope, or no hello in time; 1009 a frame
over ACC_POOL_MAX_MESSAGE_BYTES; 1013 the pool is full (the reason names when to retry);
1001 the node is going away (drain).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from core.contracts import AgentTask, Usage

PROTOCOL_VERSION = 1

CLOSE_GOING_AWAY = 1001
CLOSE_INVALID_DATA = 1007
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_TRY_AGAIN = 1013


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    v: int = Field(PROTOCOL_VERSION, description="Protocol version")


# client -> node


class Hello(Message):
    """The first message of every connection: who connects, and as what."""

    type: Literal["hello"] = "hello"
    token: str = Field("", max_length=8192, description="An acc API key or an OIDC access token")
    role: Literal["agent", "subscriber"] = "agent"
    agent_id: str | None = Field(
        None,
        max_length=200,
        pattern=r"^[A-Za-z0-9_.:@-]+$",
        description="A stable id (kept across reconnects); random when unset",
    )
    capabilities: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list, max_length=100
    )
    capacity: int = Field(1, ge=1, le=1000, description="Tasks it runs at once")
    labels: dict[str, str] = Field(default_factory=dict, max_length=50)


class Accepted(Message):
    type: Literal["accepted"] = "accepted"
    task_id: str


class Progress(Message):
    """The agent still works on the task (a heartbeat), with how far it got."""

    type: Literal["progress"] = "progress"
    task_id: str
    details: dict[str, Any] = Field(default_factory=dict)


class Result(Message):
    type: Literal["result"] = "result"
    task_id: str
    output: str = ""
    exit_code: int = 0
    stderr: str = ""
    truncated: bool = False
    duration_ms: float = 0
    usage: Usage = Field(default_factory=Usage)
    session_id: str | None = None


class Error(Message):
    """The agent ran the task and it failed (or could not run it)."""

    type: Literal["error"] = "error"
    task_id: str
    message: str = Field(max_length=100_000)
    error_type: str = "AgentFailed"
    retryable: bool = True
    output: str = ""


class Ping(Message):
    type: Literal["ping"] = "ping"
    nonce: str = ""


class Pong(Message):
    type: Literal["pong"] = "pong"
    nonce: str = ""


Channel = Annotated[
    str, Field(pattern=r"^(runs|agents|alerts|metrics|run:[A-Za-z0-9_.:-]{1,200})$")
]


class Subscribe(Message):
    """Follow a channel: `runs` (every run's events), `run:{id}` (one run's), `agents`
    (connections), `alerts` (alerts opened, escalated, acknowledged, resolved), `metrics`
    (the aggregator's 1-second windows). `after` is the last position seen: events after
    it are sent first."""

    type: Literal["subscribe"] = "subscribe"
    channel: Channel
    after: str | None = Field(None, max_length=2000)


class Unsubscribe(Message):
    type: Literal["unsubscribe"] = "unsubscribe"
    channel: Channel


# node -> client


class Registered(Message):
    type: Literal["registered"] = "registered"
    connection_id: str
    node: str
    tenant: str
    agent_id: str | None = None
    capabilities: list[str] = Field(default_factory=list)
    capacity: int = 0
    heartbeat_seconds: float = Field(description="Send progress at least this often")


class TaskMessage(Message):
    type: Literal["task"] = "task"
    task_id: str
    task: AgentTask
    attempt: int = 1


class Cancel(Message):
    type: Literal["cancel"] = "cancel"
    task_id: str
    reason: str = ""


class Reconnect(Message):
    """Connect again (to any node) after `after_seconds`; finish in-flight tasks first."""

    type: Literal["reconnect"] = "reconnect"
    reason: str
    after_seconds: float = 0


class Subscribed(Message):
    type: Literal["subscribed"] = "subscribed"
    channel: str
    position: str | None = Field(None, description="Where the replay starts from")


class EventMessage(Message):
    type: Literal["event"] = "event"
    channel: str
    position: str = Field(description="Give it back as `after` to resume here")
    event: dict[str, Any] = Field(
        description="A bus event (docs/event.schema.json); on `metrics`, one 1-second "
        "window of one tenant (analytics/windows.py WindowMetrics)"
    )


ClientMessage = Annotated[
    Hello | Accepted | Progress | Result | Error | Ping | Pong | Subscribe | Unsubscribe,
    Field(discriminator="type"),
]
ServerMessage = Annotated[
    Registered | TaskMessage | Cancel | Reconnect | Ping | Pong | Subscribed | EventMessage,
    Field(discriminator="type"),
]
CLIENT = TypeAdapter[ClientMessage](ClientMessage)
SERVER = TypeAdapter[ServerMessage](ServerMessage)


class ProtocolError(Exception):
    """A frame that breaks the protocol: the connection is closed with `code`."""

    def __init__(self, reason: str, code: int = CLOSE_INVALID_DATA) -> None:
        super().__init__(reason)
        self.reason, self.code = reason, code


def _parse(adapter: TypeAdapter[Any], raw: str | bytes) -> Any:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProtocolError("a message is a JSON object")
    if data.get("v", PROTOCOL_VERSION) != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {data.get('v')!r}; this node speaks v1")
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        where = f"{where}: " if where else ""
        raise ProtocolError(f"invalid message: {where}{first['msg']}") from None


def parse_client(raw: str | bytes) -> ClientMessage:
    message: ClientMessage = _parse(CLIENT, raw)
    return message


def parse_server(raw: str | bytes) -> ServerMessage:
    message: ServerMessage = _parse(SERVER, raw)
    return message


def encode(message: Message) -> str:
    return message.model_dump_json()


def json_schema() -> dict[str, Any]:
    """The published schema: every message either side sends."""
    client = CLIENT.json_schema(ref_template="#/$defs/{model}")
    server = SERVER.json_schema(ref_template="#/$defs/{model}")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"acc pool protocol v{PROTOCOL_VERSION}",
        "oneOf": [
            {"title": "client message", **{k: v for k, v in client.items() if k != "$defs"}},
            {"title": "server message", **{k: v for k, v in server.items() if k != "$defs"}},
        ],
        "$defs": {**client.get("$defs", {}), **server.get("$defs", {})},
    }
