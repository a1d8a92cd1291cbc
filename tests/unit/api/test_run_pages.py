"""The API process's runs pages: the same page asked at once is asked of the store once,
kept for ACC_RUNS_LIST_CACHE_SECONDS, per tenant and query, and errors are not kept."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from api.services import run_list
from api.services.runs import RunSummary, links
from core.errors import InvalidInput
from core.settings import load_settings

pytestmark = pytest.mark.unit


class Store:
    """Stands in for the projection and Temporal behind `run_list.list_runs`."""

    def __init__(self) -> None:
        self.asked: list[run_list.RunQuery] = []
        self.settings = load_settings()
        self.gate = asyncio.Event()

    async def list_runs(self, _: Any, __: Any, query: run_list.RunQuery, ___: Any) -> Any:
        self.asked.append(query)
        await self.gate.wait()
        if query.cursor == "bad":
            raise InvalidInput("cursor is not one this API gave", {"field": "cursor"})
        run_id = f"{query.tenant}-{len(self.asked)}"
        run = RunSummary(
            id=run_id,
            name="n",
            pattern="pipeline",
            tenant=query.tenant,
            status="completed",
            started_at=None,
            closed_at=None,
            links=links(self.settings, run_id),
        )
        return run_list.RunPage([run], "projection", None)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Store:
    store = Store()
    monkeypatch.setattr(run_list, "list_runs", store.list_runs)
    return store


def pages(seconds: float) -> run_list.Pages:
    return run_list.pages(None, load_settings(RUNS_LIST_CACHE_SECONDS=seconds), None)  # type: ignore[arg-type]


async def test_callers_asking_the_same_page_at_once_ask_the_store_once(store: Store) -> None:
    served = pages(1)
    query = run_list.RunQuery(tenant="a", status="completed", limit=50)
    waiting = [asyncio.ensure_future(served(query)) for _ in range(50)]
    await asyncio.sleep(0.01)
    store.gate.set()
    answers = await asyncio.gather(*waiting)
    assert len(store.asked) == 1
    assert {page.body for page in answers} == {answers[0].body}
    assert json.loads(answers[0].body)[0]["id"] == "a-1"
    assert answers[0].source == "projection" and answers[0].next_cursor is None


async def test_pages_are_kept_per_tenant_and_query_for_their_seconds(store: Store) -> None:
    store.gate.set()
    served = pages(0.2)
    first = run_list.RunQuery(tenant="a")
    await served(first)
    await served(run_list.RunQuery(tenant="b"))  # another tenant: its own page
    await served(run_list.RunQuery(tenant="a", pattern="saga"))  # another filter
    await served(first)  # kept
    assert len(store.asked) == 3
    await asyncio.sleep(0.3)
    again = await served(first)  # expired: asked again
    assert len(store.asked) == 4 and json.loads(again.body)[0]["id"] == "a-4"


async def test_errors_are_not_kept(store: Store) -> None:
    store.gate.set()
    served = pages(5)
    bad = run_list.RunQuery(tenant="a", cursor="bad")
    for _ in range(2):
        with pytest.raises(InvalidInput):
            await served(bad)
    assert len(store.asked) == 2


async def test_zero_seconds_asks_every_time(store: Store) -> None:
    store.gate.set()
    served = pages(0)
    for _ in range(3):
        await served(run_list.RunQuery(tenant="a"))
    assert len(store.asked) == 3
