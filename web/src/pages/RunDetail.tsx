import { useState, type FormEvent } from "react";
import { Link, useParams } from "react-router-dom";

import { ACTIVE, useCancelRun, useDecide, useRun } from "../api/hooks";
import type { RunView } from "../api/client";
import { ErrorBox } from "../components/ErrorBox";
import { StatusBadge } from "../components/StatusBadge";
import { StepGraph } from "../components/StepGraph";
import { duration, percent, usd, when } from "../lib/format";

export default function RunDetail() {
  const { id = "" } = useParams();
  const run = useRun(id);
  return (
    <main className="page" id="main">
      <p className="crumbs">
        <Link to="/runs">Runs</Link> / <span>{id}</span>
      </p>
      {run.isPending && <p className="muted">Loading run…</p>}
      <ErrorBox error={run.error} />
      {run.data && <RunBody run={run.data} />}
    </main>
  );
}

function RunBody({ run }: { run: RunView }) {
  const active = ACTIVE.includes(run.status);
  return (
    <>
      <div className="title-row">
        <h1>
          {run.name ?? run.id} <StatusBadge status={run.status} />
        </h1>
        <div className="actions">
          <Link className="button" to={`/runs/${encodeURIComponent(run.id)}/replay`}>
            Replay
          </Link>
          <a className="button" href={run.links.temporal_ui} target="_blank" rel="noreferrer">
            Open in Temporal Web UI
          </a>
          {active && <CancelButton id={run.id} />}
        </div>
      </div>
      <dl className="facts">
        <div>
          <dt>Pattern</dt>
          <dd>{run.pattern ?? "—"}</dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd>{when(run.started_at)}</dd>
        </div>
        <div>
          <dt>Took</dt>
          <dd>{duration(run.started_at, run.closed_at)}</dd>
        </div>
        <div>
          <dt>Cost</dt>
          <dd>{usd(run.usage.cost_usd)}</dd>
        </div>
        <div>
          <dt>Tokens</dt>
          <dd>
            {run.usage.input_tokens} in / {run.usage.output_tokens} out
          </dd>
        </div>
        <div>
          <dt>Quality</dt>
          <dd>{percent(run.quality)}</dd>
        </div>
        {run.parent_run_id && (
          <div>
            <dt>Forked from</dt>
            <dd>
              <Link to={`/runs/${encodeURIComponent(run.parent_run_id)}`}>{run.parent_run_id}</Link>
            </dd>
          </div>
        )}
      </dl>
      {run.waiting && run.status === "waiting" && <Decision run={run} />}
      <section aria-labelledby="steps-title">
        <h2 id="steps-title">Steps</h2>
        <StepGraph steps={run.steps} pending={run.pending} />
      </section>
      {run.error && (
        <section aria-labelledby="error-title">
          <h2 id="error-title">Error</h2>
          <pre className="output bad-text">{run.error}</pre>
        </section>
      )}
      {run.output != null && (
        <section aria-labelledby="output-title">
          <h2 id="output-title">Output</h2>
          <pre className="output" data-testid="run-output">
            {run.output}
          </pre>
          {run.output_artifact && (
            <p className="muted">
              Shortened; the whole output is artifact <code>{run.output_artifact}</code> (
              <code>GET /v1/artifacts/{run.output_artifact}</code>).
            </p>
          )}
        </section>
      )}
      {run.notes.length > 0 && (
        <section aria-labelledby="notes-title">
          <h2 id="notes-title">Notes</h2>
          <ul>
            {run.notes.map((note, i) => (
              <li key={i}>{note}</li>
            ))}
          </ul>
        </section>
      )}
    </>
  );
}

function CancelButton({ id }: { id: string }) {
  const cancel = useCancelRun(id);
  const [sure, setSure] = useState(false);
  return (
    <span className="action">
      {sure ? (
        <>
          <button type="button" className="danger" onClick={() => cancel.mutate()} disabled={cancel.isPending}>
            Yes, cancel the run
          </button>
          <button type="button" onClick={() => setSure(false)}>
            Keep it
          </button>
        </>
      ) : (
        <button type="button" className="danger" onClick={() => setSure(true)}>
          Cancel run
        </button>
      )}
      <ErrorBox error={cancel.error} />
    </span>
  );
}

/** Approve or reject what a waiting run waits for, with a reason kept in its history. */
export function Decision({ run }: { run: RunView }) {
  const decide = useDecide(run.id);
  const [comment, setComment] = useState("");
  const waiting = run.waiting!;
  const send = (approve: boolean) => (event?: FormEvent) => {
    event?.preventDefault();
    decide.mutate({ approve, comment });
  };
  return (
    <section className="card waiting" aria-labelledby="decision-title">
      <h2 id="decision-title">
        Waiting for {waiting.kind === "budget" ? "approval past its budget" : "approval"}
        {waiting.step ? ` before ${waiting.step}` : ""}
      </h2>
      <p>
        {waiting.reason}
        {waiting.group ? ` (group: ${waiting.group})` : ""} · since {when(waiting.since)}
      </p>
      <form className="stack action" onSubmit={send(true)}>
        <label htmlFor="decision-comment">Reason (kept in the run&apos;s history)</label>
        <textarea
          id="decision-comment"
          rows={2}
          maxLength={2000}
          value={comment}
          onChange={(e) => setComment(e.target.value)}
        />
        <div className="actions">
          <button type="submit" className="primary" disabled={decide.isPending}>
            Approve
          </button>
          <button type="button" className="danger" onClick={send(false)} disabled={decide.isPending}>
            Reject
          </button>
        </div>
        <ErrorBox error={decide.error} />
      </form>
    </section>
  );
}
