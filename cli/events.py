"""`acc events tail|schema`: the events topic as a reader sees it.

`tail` is a Kafka consumer of ACC_EVENTS_TOPIC (aiokafka: the dev broker, Tansu 0.6,
answers it but not librdkafka-based tools such as kcat). Without `--group` it joins no
consumer group and commits nothing, so it never takes events from the aggregator or
anyone else; it reads the topic from its start (the dev broker keeps only what arrived
since it started) and stops once it has caught up, unless `--follow`.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from rich.markup import escape

from cli.output import console, err_console, fail, settings
from core.bus import build_consumer
from core.events import Event, event_schema
from core.transport import kafka_options

app = typer.Typer(help="Read the events topic.", no_args_is_help=True)

DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Caught up: the broker sent nothing for this long (Tansu's end offsets are not reliable).
IDLE_SECONDS = 1.0
COLORS = {"completed": "green", "failed": "red", "started": "cyan", "waiting": "yellow"}


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """`10m`, `2h`, `1.5d`, `30s` ago, or an ISO 8601 time (UTC unless it says)."""
    now = now or datetime.now(UTC)
    if match := DURATION.match(value.strip()):
        return now - timedelta(seconds=float(match[1]) * UNITS[match[2]])
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"--since {value!r}: give a duration like 30s, 10m, 2h, 7d or a time like "
            "2026-11-30T12:00:00"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Filter:
    run: str | None = None
    types: tuple[str, ...] = ()
    tenant: str | None = None
    since: datetime | None = None

    def __call__(self, event: Event) -> bool:
        return (
            (self.run is None or event.run_id == self.run)
            and (not self.types or any(_type_matches(event.type, t) for t in self.types))
            and (self.tenant is None or event.tenant == self.tenant)
            and (self.since is None or event.time >= self.since)
        )


def _type_matches(kind: str, wanted: str) -> bool:
    """`step.completed` exactly, or `step` / `step.*` for every step event."""
    prefix = wanted.removesuffix(".*").removesuffix(".")
    return kind == wanted or kind.startswith(prefix + ".")


def render(event: Event) -> str:
    """One readable line: time, run, type, step, agent, then cost, tokens and what else."""
    color = COLORS.get(event.type.rsplit(".", 1)[-1], "white")
    parts = [
        f"[dim]{event.time.astimezone(UTC):%H:%M:%S.%f}"[:-3] + "[/]",
        escape(event.run_id),
        f"[{color}]{event.type}[/]",
    ]
    if event.step:
        parts.append(f"step={escape(event.step)}")
    if event.agent:
        parts.append(f"agent={escape(event.agent)}")
    if event.cost_usd:
        parts.append(f"cost=${event.cost_usd:.4f}")
    if event.tokens:
        parts.append(f"tokens={event.tokens}")
    parts += [f"[dim]{escape(k)}={escape(_short(v))}[/]" for k, v in _details(event.data)]
    return "  ".join(parts)


def _caught_up(consumer: AIOKafkaConsumer, quiet_since: float) -> bool:
    """Every partition has answered a fetch and nothing came for IDLE_SECONDS."""
    assigned = consumer.assignment()
    return (
        bool(assigned)
        and all(consumer.last_poll_timestamp(tp) is not None for tp in assigned)
        and time.monotonic() - quiet_since >= IDLE_SECONDS
    )


def _details(data: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    skip = {"backend", "cost_usd", "input_tokens", "output_tokens", "index"}
    for key, value in data.items():
        if key not in skip and value not in (None, "", [], {}):
            yield key, value


def _short(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def tail_events(
    bootstrap: str,
    topic: str,
    keep: Filter,
    follow: bool,
    as_json: bool,
    group: str | None = None,
    **options: Any,
) -> int:
    """Print the events `keep` accepts; returns how many were printed (`options`: TLS and
    SASL, `core.transport.kafka_options`)."""
    consumer = build_consumer(bootstrap, topic, group_id=group, **options)
    await consumer.start()
    printed = unreadable = 0
    quiet_since = time.monotonic()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=200)
            records = [record for records in batch.values() for record in records]
            if records:
                quiet_since = time.monotonic()
            for record in sorted(records, key=lambda r: r.timestamp):
                try:
                    event = Event.decode(record.value or b"")
                except ValueError:
                    unreadable += 1
                    continue
                if keep(event):
                    printed += 1
                    if as_json:
                        sys.stdout.write(event.model_dump_json() + "\n")
                        sys.stdout.flush()
                    else:
                        console.print(render(event), highlight=False, soft_wrap=True)
            if not follow and _caught_up(consumer, quiet_since):
                break
    finally:
        await consumer.stop()
        if unreadable:
            err_console.print(f"[yellow]{unreadable} message(s) were not acc events: skipped[/]")
    return printed


@app.command()
def tail(
    run: Annotated[str | None, typer.Option("--run", help="Only this run's events")] = None,
    type_: Annotated[
        list[str] | None,
        typer.Option("--type", "-t", help="Event type, or a family: step, run.* (repeat)"),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only newer events: 30s, 10m, 2h, 7d or an ISO time")
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's events")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON envelope per line")] = False,
    group: Annotated[
        str | None,
        typer.Option(help="Read as this consumer group (commits offsets); default: none"),
    ] = None,
) -> None:
    """Print the events on the events topic, oldest first, then stop (or --follow).

    [bold]Examples[/]
      acc events tail --run pipeline-1a2b3c --follow
      acc events tail --type step.failed --since 1h
      acc events tail --type run --json | jq .data.quality
    """
    conf = settings()
    try:
        keep = Filter(run, tuple(type_ or ()), tenant, parse_since(since) if since else None)
    except ValueError as exc:
        raise fail(str(exc)) from None
    try:
        asyncio.run(
            tail_events(
                conf.kafka_bootstrap,
                conf.EVENTS_TOPIC,
                keep,
                follow,
                as_json,
                group,
                **kafka_options(conf),
            )
        )
    except KeyboardInterrupt:
        pass
    except (KafkaError, OSError) as exc:
        raise fail(
            f"cannot read {conf.EVENTS_TOPIC} at {conf.kafka_bootstrap} ({exc}): is the stack "
            "up (`acc up`), or ACC_KAFKA_BOOTSTRAP set?"
        ) from None


@app.command()
def schema() -> None:
    """Print the JSON Schema of the event envelope (docs/event.schema.json)."""
    sys.stdout.write(json.dumps(event_schema(), indent=2) + "\n")
