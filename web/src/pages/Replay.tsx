import { useEffect, useMemo, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";

import type { TimelineEntry } from "../api/client";
import { useFork, useTimeline } from "../api/hooks";
import { ErrorBox } from "../components/ErrorBox";
import { StatusBadge } from "../components/StatusBadge";
import { duration, usd, when } from "../lib/format";

const SPEEDS = [0.5, 1, 2, 4];
const STEP_MS = 1200;

export default function Replay() {
  const { id = "" } = useParams();
  const [live, setLive] = useState(true);
  const timeline = useTimeline(id, live);
  const entries = useMemo(() => timeline.data?.entries ?? [], [timeline.data]);
  const [position, setPosition] = useState(0);
  const [playing, setPlaying] = useState(false);
  const [speed, setSpeed] = useState(1);

  useEffect(() => {
    if (timeline.data && timeline.data.status !== "running") setLive(false);
  }, [timeline.data]);
  useEffect(() => {
    if (!playing) return;
    if (position >= entries.length - 1) {
      setPlaying(false);
      return;
    }
    const timer = setTimeout(() => setPosition((p) => p + 1), STEP_MS / speed);
    return () => clearTimeout(timer);
  }, [playing, position, speed, entries.length]);

  const entry = entries[Math.min(position, Math.max(entries.length - 1, 0))];
  return (
    <main className="page" id="main">
      <p className="crumbs">
        <Link to="/runs">Runs</Link> / <Link to={`/runs/${encodeURIComponent(id)}`}>{id}</Link> /{" "}
        <span>replay</span>
      </p>
      <h1>Replay</h1>
      <ErrorBox error={timeline.error} />
      {timeline.isPending && <p className="muted">Loading the run&apos;s history…</p>}
      {entries.length > 0 && (
        <>
          <div className="player" role="group" aria-label="Replay controls">
            <button type="button" onClick={() => setPosition((p) => Math.max(p - 1, 0))} disabled={position === 0}>
              ◀ Step back
            </button>
            <button type="button" className="primary" onClick={() => setPlaying((p) => !p)}>
              {playing ? "Pause" : "Play"}
            </button>
            <button
              type="button"
              onClick={() => setPosition((p) => Math.min(p + 1, entries.length - 1))}
              disabled={position >= entries.length - 1}
            >
              Step ▶
            </button>
            <label htmlFor="speed">Speed</label>
            <select id="speed" value={speed} onChange={(e) => setSpeed(Number(e.target.value))}>
              {SPEEDS.map((s) => (
                <option key={s} value={s}>
                  {s}×
                </option>
              ))}
            </select>
          </div>
          <label htmlFor="scrubber" className="scrub-label">
            Event {position + 1} of {entries.length}
          </label>
          <input
            id="scrubber"
            className="scrubber"
            type="range"
            min={0}
            max={entries.length - 1}
            value={position}
            onChange={(e) => {
              setPlaying(false);
              setPosition(Number(e.target.value));
            }}
          />
          <ol className="ticks" aria-label="Events">
            {entries.map((e, i) => (
              <li key={i}>
                <button
                  type="button"
                  className={i === position ? "tick current" : "tick"}
                  aria-current={i === position ? "step" : undefined}
                  onClick={() => setPosition(i)}
                  title={`${e.kind} ${e.name}`}
                >
                  {e.kind === "step" ? `#${e.index ?? "?"} ${e.name}` : e.name}
                </button>
              </li>
            ))}
          </ol>
          {entry && <EntryView entry={entry} runId={id} />}
        </>
      )}
      {timeline.data && entries.length === 0 && <p className="muted">No events recorded yet.</p>}
    </main>
  );
}

function EntryView({ entry, runId }: { entry: TimelineEntry; runId: string }) {
  return (
    <section className="card" aria-labelledby="entry-title" data-testid="replay-entry">
      <h2 id="entry-title">
        {entry.kind} · {entry.name} <StatusBadge status={entry.status} />
      </h2>
      <dl className="facts">
        <div>
          <dt>At</dt>
          <dd>{when(entry.time)}</dd>
        </div>
        <div>
          <dt>Took</dt>
          <dd>{entry.ended_at ? duration(entry.time, entry.ended_at) : "—"}</dd>
        </div>
        {entry.backend && (
          <div>
            <dt>Backend</dt>
            <dd>{entry.backend}</dd>
          </div>
        )}
        {entry.attempt != null && (
          <div>
            <dt>Attempt</dt>
            <dd>{entry.attempt}</dd>
          </div>
        )}
        {entry.usage && (
          <div>
            <dt>Cost</dt>
            <dd>
              {usd(entry.usage.cost_usd)} ({entry.usage.input_tokens} in / {entry.usage.output_tokens} out)
            </dd>
          </div>
        )}
      </dl>
      {entry.input != null && (
        <>
          <h3>Input</h3>
          <pre className="output">{entry.input}</pre>
        </>
      )}
      {entry.output != null && (
        <>
          <h3>Output</h3>
          <pre className="output">{entry.output}</pre>
        </>
      )}
      {entry.error && (
        <>
          <h3>Error</h3>
          <pre className="output bad-text">{entry.error}</pre>
        </>
      )}
      {entry.kind === "step" && entry.index != null && (
        <ForkForm runId={runId} step={entry.index} input={entry.input ?? ""} />
      )}
    </section>
  );
}

function ForkForm({ runId, step, input }: { runId: string; step: number; input: string }) {
  const fork = useFork(runId);
  const navigate = useNavigate();
  const [text, setText] = useState(input);
  useEffect(() => setText(input), [input, step]);
  return (
    <form
      className="stack fork action"
      onSubmit={(event) => {
        event.preventDefault();
        // The promise, not a mutate-level onSuccess: a live update can re-render this form
        // away while the request is out, and then that callback would never run. A failure
        // shows through the mutation's own error state below.
        fork
          .mutateAsync({ from_step: step, input: text === input ? null : text })
          .then(
            (accepted) => navigate(`/runs/${encodeURIComponent(accepted.id)}`),
            () => undefined,
          );
      }}
    >
      <h3>Fork from here</h3>
      <p className="muted small">
        A new run reuses the results of the steps before #{step} and runs again from it.
      </p>
      <label htmlFor="fork-input">Input of step #{step}</label>
      <textarea id="fork-input" rows={3} value={text} onChange={(e) => setText(e.target.value)} />
      <div className="actions">
        <button type="submit" className="primary" disabled={fork.isPending}>
          Fork from step #{step}
        </button>
      </div>
      <ErrorBox error={fork.error} />
    </form>
  );
}
