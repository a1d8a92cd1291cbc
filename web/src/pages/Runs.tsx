import { useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";

import { useQueryClient } from "@tanstack/react-query";
import { useVirtualizer } from "@tanstack/react-virtual";

import { LIVE_PAGES } from "../api/live";
import {
  PATTERNS,
  queryKeys,
  STATUSES,
  useRunPages,
  useStartRun,
  type ListStatus,
  type Pattern,
  type RunSearch,
  type SpecBody,
} from "../api/hooks";
import { ErrorBox } from "../components/ErrorBox";
import { Modal } from "../components/Modal";
import { StatusBadge } from "../components/StatusBadge";
import { duration, when } from "../lib/format";
import { useShortcuts } from "../lib/shortcuts";
import { isPhone } from "../lib/viewport";

const WINDOWS: Record<string, number> = { "1h": 3_600_000, "24h": 86_400_000, "7d": 604_800_000 };
const ROW_HEIGHT = 53; // px: a run's name and id on two lines
const SEARCH_DELAY = 250; // ms of no typing before the API is asked

export const EXAMPLE_SPEC = JSON.stringify(
  {
    name: "hello-pipeline",
    pattern: "pipeline",
    steps: [
      { name: "greet", agent: { backend: "shell", command: 'echo "hello from acc"' } },
      { name: "shout", agent: { backend: "shell", command: "tr a-z A-Z" } },
    ],
  },
  null,
  2,
);

/** The API's filters for the list's address: `since` (a window: 1h, 24h, 7d) ends now,
 * rounded down to the minute so the query stays the same while the page is open; `from`
 * and `to` (analytics' drill-down) bound the start, [from, to). */
export function runSearch(params: URLSearchParams, search: string, now = Date.now()): RunSearch {
  const span = WINDOWS[params.get("since") ?? ""];
  const from = Date.parse(params.get("from") ?? "");
  const to = Date.parse(params.get("to") ?? "");
  const between = !Number.isNaN(from) && !Number.isNaN(to);
  const windowStart = span ? Math.floor((now - span) / 60_000) * 60_000 : NaN;
  const starts = [between ? from : NaN, windowStart].filter((t) => !Number.isNaN(t));
  const start = starts.length > 0 ? Math.max(...starts) : NaN;
  return {
    status: (params.get("status") || undefined) as ListStatus | undefined,
    pattern: (params.get("pattern") || undefined) as Pattern | undefined,
    q: search.trim() || undefined,
    since: Number.isNaN(start) ? undefined : new Date(start).toISOString(),
    until: between ? new Date(to).toISOString() : undefined,
  };
}

/** `value`, once it has not changed for `delay` ms. */
function useSettled<T>(value: T, delay: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), delay);
    return () => clearTimeout(timer);
  }, [value, delay]);
  return settled;
}

export default function Runs() {
  const [params, setParams] = useSearchParams();
  const search = params.get("q") ?? "";
  const settled = useSettled(search, SEARCH_DELAY);
  const status = params.get("status") ?? "";
  const pattern = params.get("pattern") ?? "";
  const window = params.get("since") ?? "";
  const from = Date.parse(params.get("from") ?? "");
  const to = Date.parse(params.get("to") ?? "");
  const between: [number, number] | null =
    Number.isNaN(from) || Number.isNaN(to) ? null : [from, to];
  const query = useMemo(() => runSearch(params, settled), [params, settled]);
  const runs = useRunPages(query);
  const queryClient = useQueryClient();
  const loaded = useMemo(() => runs.data?.pages.flatMap((page) => page.runs) ?? [], [runs.data]);
  const [selected, setSelected] = useState(0);
  const [focusing, setFocusing] = useState(false);
  const [starting, setStarting] = useState(false);
  const searchBox = useRef<HTMLInputElement>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const rows = useRef(new Map<number, HTMLAnchorElement>());

  const virtualizer = useVirtualizer({
    count: loaded.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 10,
    initialRect: { width: 800, height: 600 },
  });
  const items = virtualizer.getVirtualItems();
  const last = items.at(-1)?.index ?? -1;
  useEffect(() => {
    // Near the end of what is loaded: read the next page.
    if (last >= loaded.length - 20 && runs.hasNextPage && !runs.isFetchingNextPage) {
      void runs.fetchNextPage();
    }
  }, [last, loaded.length, runs.hasNextPage, runs.isFetchingNextPage, runs.fetchNextPage]);

  const update = (changes: Record<string, string>) => {
    const next = new URLSearchParams(params);
    for (const [name, value] of Object.entries(changes)) {
      if (value) next.set(name, value);
      else next.delete(name);
    }
    setParams(next, { replace: true });
    setSelected(0);
    scroller.current?.scrollTo?.({ top: 0 });
  };

  const readAgain = () => {
    scroller.current?.scrollTo?.({ top: 0 });
    setSelected(0);
    void queryClient.resetQueries({ queryKey: queryKeys.runPages(query) });
  };

  const move = (by: number) => {
    const next = Math.min(Math.max(selected + by, 0), Math.max(loaded.length - 1, 0));
    setSelected(next);
    setFocusing(true);
    virtualizer.scrollToIndex(next, { align: "auto" });
  };
  useEffect(() => {
    // The row may only be drawn once scrolled to: focus it when it is.
    if (!focusing) return;
    const row = rows.current.get(selected);
    if (row) {
      row.focus();
      setFocusing(false);
    }
  });
  useShortcuts({
    j: () => move(1),
    k: () => move(-1),
    "/": () => searchBox.current?.focus(),
    n: () => !isPhone() && setStarting(true),
  });

  const padTop = items[0]?.start ?? 0;
  const padBottom = virtualizer.getTotalSize() - (items.at(-1)?.end ?? 0);
  const more = runs.hasNextPage ? ", more as you scroll" : "";
  return (
    <main className="page" id="main">
      <div className="title-row">
        <h1>Runs</h1>
        <button type="button" className="primary action" onClick={() => setStarting(true)}>
          Start a run
        </button>
      </div>
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <div className="field">
          <label htmlFor="run-search">Search</label>
          <input
            id="run-search"
            ref={searchBox}
            type="search"
            placeholder="id or name  ( / )"
            value={search}
            maxLength={200}
            onChange={(e) => update({ q: e.target.value })}
            onKeyDown={(e) => e.key === "Escape" && e.currentTarget.blur()}
          />
        </div>
        <div className="field">
          <label htmlFor="run-status">Status</label>
          <select id="run-status" value={status} onChange={(e) => update({ status: e.target.value })}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s.replace("_", " ")}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="run-pattern">Pattern</label>
          <select id="run-pattern" value={pattern} onChange={(e) => update({ pattern: e.target.value })}>
            <option value="">any</option>
            {PATTERNS.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="run-since">Started</label>
          <select id="run-since" value={window} onChange={(e) => update({ since: e.target.value })}>
            <option value="">any time</option>
            <option value="1h">last hour</option>
            <option value="24h">last 24 hours</option>
            <option value="7d">last 7 days</option>
          </select>
        </div>
      </form>
      {between && (
        <p className="chip" data-testid="between">
          Started between {new Date(between[0]).toLocaleString()} and {new Date(between[1]).toLocaleString()}{" "}
          <button type="button" onClick={() => update({ from: "", to: "" })}>
            Any time
          </button>
        </p>
      )}
      <ErrorBox error={runs.error} />
      {(runs.data?.pages.length ?? 0) > LIVE_PAGES && (
        <p className="chip" data-testid="held">
          Scrolled this far, the list stays as it was read.{" "}
          <button type="button" onClick={readAgain}>
            Read again from the top
          </button>
        </p>
      )}
      <p className="muted" aria-live="polite">
        {runs.isPending
          ? "Loading runs…"
          : `${loaded.length} run${loaded.length === 1 ? "" : "s"}${more}`}
      </p>
      <div className="runs-scroll" ref={scroller} data-testid="runs-scroll">
        <table className="table runs" aria-rowcount={runs.hasNextPage ? -1 : loaded.length + 1}>
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Status</th>
              <th scope="col">Pattern</th>
              <th scope="col">Started</th>
              <th scope="col">Took</th>
            </tr>
          </thead>
          <tbody>
            {padTop > 0 && (
              <tr aria-hidden="true" style={{ height: padTop }}>
                <td colSpan={5} />
              </tr>
            )}
            {items.map((item) => {
              const run = loaded[item.index]!;
              const i = item.index;
              return (
                <tr
                  key={run.id}
                  className={i === selected ? "selected" : undefined}
                  data-run-id={run.id}
                  data-index={i}
                  aria-rowindex={i + 2}
                  ref={virtualizer.measureElement}
                >
                  <td>
                    <Link
                      to={`/runs/${encodeURIComponent(run.id)}`}
                      ref={(el) => {
                        if (el) rows.current.set(i, el);
                        else rows.current.delete(i);
                      }}
                      onFocus={() => setSelected(i)}
                    >
                      {run.name ?? run.id}
                    </Link>
                    <div className="muted small">{run.id}</div>
                  </td>
                  <td>
                    <StatusBadge status={run.status} />
                  </td>
                  <td>{run.pattern ?? "—"}</td>
                  <td>{when(run.started_at)}</td>
                  <td>{duration(run.started_at, run.closed_at)}</td>
                </tr>
              );
            })}
            {padBottom > 0 && (
              <tr aria-hidden="true" style={{ height: padBottom }}>
                <td colSpan={5} />
              </tr>
            )}
          </tbody>
        </table>
        {runs.isFetchingNextPage && <p className="muted">Loading more runs…</p>}
      </div>
      {starting && <StartRun onClose={() => setStarting(false)} />}
    </main>
  );
}

/** Start a run from a spec (JSON); the API validates it and names any field at fault. */
export function StartRun({ onClose }: { onClose: () => void }) {
  const [text, setText] = useState(EXAMPLE_SPEC);
  const [parseError, setParseError] = useState<string | null>(null);
  const start = useStartRun();
  const navigate = useNavigate();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    let spec: unknown;
    try {
      spec = JSON.parse(text);
    } catch (exc) {
      setParseError(`The spec is not valid JSON: ${(exc as Error).message}`);
      return;
    }
    setParseError(null);
    start.mutate(spec as SpecBody, {
      onSuccess: (accepted) => navigate(`/runs/${encodeURIComponent(accepted.id)}`),
    });
  };
  return (
    <Modal title="Start a run" onClose={onClose}>
      <form onSubmit={submit} className="stack">
        <label htmlFor="spec">
          Run spec (JSON; the schema is at <a href="/v1/schema/run-spec">/v1/schema/run-spec</a>)
        </label>
        <textarea
          id="spec"
          rows={16}
          spellCheck={false}
          className="code"
          value={text}
          onChange={(e) => setText(e.target.value)}
        />
        {parseError && (
          <p className="error" role="alert">
            {parseError}
          </p>
        )}
        <ErrorBox error={start.error} title="The API refused the spec" />
        <div className="actions">
          <button type="submit" className="primary" disabled={start.isPending}>
            {start.isPending ? "Starting…" : "Start"}
          </button>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Modal>
  );
}
