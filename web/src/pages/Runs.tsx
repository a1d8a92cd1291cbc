import { useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";

import type { RunSummary } from "../api/client";
import {
  PATTERNS,
  STATUSES,
  useRuns,
  useStartRun,
  type ListStatus,
  type Pattern,
  type SpecBody,
} from "../api/hooks";
import { ErrorBox } from "../components/ErrorBox";
import { Modal } from "../components/Modal";
import { StatusBadge } from "../components/StatusBadge";
import { duration, when } from "../lib/format";
import { useShortcuts } from "../lib/shortcuts";

export const PAGE_SIZE = 25;
const WINDOWS: Record<string, number> = { "1h": 3_600_000, "24h": 86_400_000, "7d": 604_800_000 };

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

/** The runs that match the search text and time window (status and pattern: the API);
 * `between` (from analytics' drill-down): started in [from, to). */
export function filterRuns(
  runs: RunSummary[],
  search: string,
  window: string,
  now = Date.now(),
  between: [number, number] | null = null,
): RunSummary[] {
  const text = search.trim().toLowerCase();
  const span = WINDOWS[window];
  return runs.filter((run) => {
    const started = run.started_at === null ? NaN : Date.parse(run.started_at);
    return (
      (!text ||
        run.id.toLowerCase().includes(text) ||
        (run.name ?? "").toLowerCase().includes(text)) &&
      (!span || now - started <= span) &&
      (!between || (started >= between[0] && started < between[1]))
    );
  });
}

export default function Runs() {
  const [params, setParams] = useSearchParams();
  const status = (params.get("status") || undefined) as ListStatus | undefined;
  const pattern = (params.get("pattern") || undefined) as Pattern | undefined;
  const search = params.get("q") ?? "";
  const window = params.get("since") ?? "";
  const page = Math.max(0, Number(params.get("page") ?? 0) || 0);
  const from = Date.parse(params.get("from") ?? "");
  const to = Date.parse(params.get("to") ?? "");
  const between: [number, number] | null =
    Number.isNaN(from) || Number.isNaN(to) ? null : [from, to];
  const runs = useRuns({ status, pattern, limit: 1000 });
  const [selected, setSelected] = useState(0);
  const [starting, setStarting] = useState(false);
  const searchBox = useRef<HTMLInputElement>(null);
  const rows = useRef<(HTMLAnchorElement | null)[]>([]);

  const matching = useMemo(
    () => filterRuns(runs.data ?? [], search, window, Date.now(), between),
    [runs.data, search, window, from, to],
  );
  const pages = Math.max(1, Math.ceil(matching.length / PAGE_SIZE));
  const shown = matching.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);

  const update = (changes: Record<string, string>) => {
    const next = new URLSearchParams(params);
    for (const [name, value] of Object.entries(changes)) {
      if (value) next.set(name, value);
      else next.delete(name);
    }
    if (!("page" in changes)) next.delete("page");
    setParams(next, { replace: true });
    if (!("page" in changes)) setSelected(0);
  };

  const move = (by: number) => {
    const next = Math.min(Math.max(selected + by, 0), Math.max(shown.length - 1, 0));
    setSelected(next);
    rows.current[next]?.focus();
  };
  useShortcuts({
    j: () => move(1),
    k: () => move(-1),
    "/": () => searchBox.current?.focus(),
    n: () => setStarting(true),
  });
  useEffect(() => {
    if (selected >= shown.length && shown.length > 0) setSelected(shown.length - 1);
  }, [selected, shown.length]);

  return (
    <main className="page" id="main">
      <div className="title-row">
        <h1>Runs</h1>
        <button type="button" className="primary" onClick={() => setStarting(true)}>
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
            onChange={(e) => update({ q: e.target.value })}
            onKeyDown={(e) => e.key === "Escape" && e.currentTarget.blur()}
          />
        </div>
        <div className="field">
          <label htmlFor="run-status">Status</label>
          <select id="run-status" value={status ?? ""} onChange={(e) => update({ status: e.target.value })}>
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
          <select id="run-pattern" value={pattern ?? ""} onChange={(e) => update({ pattern: e.target.value })}>
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
      <p className="muted" aria-live="polite">
        {runs.isPending ? "Loading runs…" : `${matching.length} run${matching.length === 1 ? "" : "s"}`}
      </p>
      <table className="table runs">
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
          {shown.map((run, i) => (
            <tr key={run.id} className={i === selected ? "selected" : undefined} data-run-id={run.id}>
              <td>
                <Link
                  to={`/runs/${encodeURIComponent(run.id)}`}
                  ref={(el) => {
                    rows.current[i] = el;
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
          ))}
        </tbody>
      </table>
      <nav className="pager" aria-label="Pages">
        <button type="button" disabled={page === 0} onClick={() => update({ page: String(page - 1) })}>
          Previous
        </button>
        <span>
          Page {Math.min(page + 1, pages)} of {pages}
        </span>
        <button
          type="button"
          disabled={page + 1 >= pages}
          onClick={() => update({ page: String(page + 1) })}
        >
          Next
        </button>
      </nav>
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
