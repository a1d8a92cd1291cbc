"""Listing a tenant's runs a page at a time: from the runs projection (SQL) while an
aggregator keeps it current, else from Temporal visibility.

A page's cursor is opaque to callers: the start time and id of its last run, so the next
page continues after it whatever started or ended meanwhile.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from async_lru import alru_cache
from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from analytics import heartbeats, projection
from analytics.fold import utc
from api.services.runs import (
    VISIBILITY_STATUS,
    ListStatus,
    RunSummary,
    links,
    quoted,
    summary,
    tenant_runs,
)
from core.errors import InvalidInput
from core.settings import Settings
from core.specs import PATTERNS, Pattern


@dataclass(frozen=True)
class RunQuery:
    """What a caller asked for; the tenant is always the credential's."""

    tenant: str
    status: ListStatus | None = None
    pattern: Pattern | None = None
    q: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    cursor: str | None = None
    limit: int = 100


@dataclass(frozen=True)
class RunPage:
    runs: list[RunSummary]
    source: str  # "projection" or "temporal"
    next_cursor: str | None  # None: this was the last page


@dataclass(frozen=True)
class ServedPage:
    """A page as the API sends it: the runs' JSON, and its headers' values."""

    body: bytes
    source: str
    next_cursor: str | None


Pages = Callable[[RunQuery], Awaitable[ServedPage]]
PAGE_JSON = TypeAdapter(list[RunSummary])
CACHED_PAGES = 1024


def pages(client: Client, settings: Settings, engine: AsyncEngine) -> Pages:
    """The API process's pages: each (tenant, filters, cursor) answered from memory for
    ACC_RUNS_LIST_CACHE_SECONDS, and asked of SQL or Temporal once for the callers that
    ask for it at once (a dashboard polled by many browsers asks the same pages). The
    list is eventually consistent anyway (the projection trails the events); this adds
    at most that second. Errors are not kept."""

    async def page(query: RunQuery) -> ServedPage:
        found = await list_runs(client, settings, query, engine)
        return ServedPage(PAGE_JSON.dump_json(found.runs), found.source, found.next_cursor)

    seconds = settings.RUNS_LIST_CACHE_SECONDS
    return alru_cache(maxsize=CACHED_PAGES, ttl=seconds)(page) if seconds > 0 else page


def encode_cursor(last: RunSummary) -> str:
    started = last.started_at.isoformat() if last.started_at is not None else None
    raw = json.dumps({"s": started, "i": last.id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> projection.After:
    """The run a page ended with; a 422 naming `cursor` when it is not one this API gave."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        started = data["s"]
        run_id = data["i"]
        if not isinstance(run_id, str) or not (started is None or isinstance(started, str)):
            raise TypeError(data)
        moment = utc(datetime.fromisoformat(started)) if started is not None else None
    except (binascii.Error, ValueError, TypeError, KeyError) as exc:
        raise InvalidInput(
            "cursor is not one this API gave: pass `next_cursor` of the page before as is",
            {"field": "cursor"},
        ) from exc
    return projection.After(started_at=moment, run_id=run_id)


def _checked(query: RunQuery) -> projection.After | None:
    # `since` at or after `until` is an empty window: both sources answer it with no runs.
    return decode_cursor(query.cursor) if query.cursor else None


def _page(runs: list[RunSummary], limit: int) -> tuple[list[RunSummary], str | None]:
    """One more than the page was read: whether it exists says if a next page does."""
    if len(runs) > limit:
        return runs[:limit], encode_cursor(runs[limit - 1])
    return runs, None


async def list_runs(
    client: Client, settings: Settings, query: RunQuery, engine: AsyncEngine | None = None
) -> RunPage:
    """The tenant's runs that match, newest first: from the runs projection while an
    aggregator keeps it current (`projection`), else Temporal visibility (`temporal`)."""
    after = _checked(query)
    if (
        engine is not None
        and (query.status is None or query.status in projection.PROJECTED_STATUSES)
        and await heartbeats.alive(engine, settings.PROJECTION_STALE_SECONDS)
    ):
        which = projection.RunFilter(
            tenant=query.tenant,
            status=query.status,
            pattern=query.pattern,
            q=query.q,
            since=query.since,
            until=query.until,
        )
        records = await projection.list_runs(engine, which, query.limit + 1, after)
        found = [
            RunSummary(
                id=r.run_id,
                name=r.name,
                pattern=r.pattern,
                tenant=r.tenant,
                status=r.status,
                started_at=r.started_at,
                closed_at=r.ended_at,
                links=links(settings, r.run_id),
            )
            for r in records
        ]
        runs, cursor = _page(found, query.limit)
        return RunPage(runs, "projection", cursor)
    return await _from_temporal(client, settings, query, after)


def _visibility(query: RunQuery, after: projection.After | None) -> str:
    patterns = [query.pattern] if query.pattern else list(PATTERNS)
    clauses = [tenant_runs(query.tenant, patterns)]
    if query.status:
        clauses.append(f"({VISIBILITY_STATUS[query.status]})")
    if query.since is not None:
        clauses.append(f"StartTime >= '{utc(query.since).isoformat()}'")
    if query.until is not None:
        clauses.append(f"StartTime < '{utc(query.until).isoformat()}'")
    if after is not None and after.started_at is not None:
        # Visibility has no tie-breaker to continue after: a page resumes at the next
        # start time, so runs started in the very same microsecond may be passed over.
        clauses.append(f"StartTime < '{quoted(after.started_at.isoformat())}'")
    return " AND ".join(clauses)


async def _from_temporal(
    client: Client, settings: Settings, query: RunQuery, after: projection.After | None
) -> RunPage:
    """Visibility cannot search inside ids and names: `q` keeps the matching runs of the
    runs read for the page (up to 10 times `limit`), so a search there may end early."""
    text = (query.q or "").lower()
    budget = query.limit * 10 if text else query.limit + 1
    found: list[RunSummary] = []
    async for execution in client.list_workflows(
        _visibility(query, after), limit=budget, page_size=min(budget, 1000)
    ):
        run = summary(settings, execution)
        if text and text not in run.id.lower() and text not in (run.name or "").lower():
            continue
        found.append(run)
        if len(found) > query.limit:
            break
    runs, cursor = _page(found, query.limit)
    return RunPage(runs, "temporal", cursor)
