import { useEffect, useState, type FormEvent } from "react";
import { Link } from "react-router-dom";

import type { Schemas } from "../api/client";
import { useDashboardConfig, useFlags, usePool } from "../api/config";
import { useAgents } from "../api/hooks";
import { useRuleStats, useSaveStandards, useStandards } from "../api/reviews";
import { ErrorBox } from "../components/ErrorBox";
import { percent } from "../lib/format";

const READ_ONLY = "Read only: the API has no endpoint to change this;";

export default function Configuration() {
  return (
    <main className="page" id="main">
      <h1>Configuration</h1>
      <p className="hint">
        What this deployment runs with, as the API reports it. Only the review standards can be
        saved here; everything else is set in its file or in ACC_* settings and read again by acc.
      </p>
      <AgentsFile />
      <Routing />
      <Pool />
      <ReviewStandards />
      <Flags />
    </main>
  );
}

function AgentsFile() {
  const agents = useAgents();
  return (
    <section className="card" aria-labelledby="agents-file-title">
      <h2 id="agents-file-title">Agents file</h2>
      <p className="hint">{READ_ONLY} edit the file named by ACC_AGENTS_FILE.</p>
      <ErrorBox error={agents.error} />
      {agents.isPending && <p className="muted">Loading agents…</p>}
      {agents.data && agents.data.length === 0 && <p className="muted">No agents declared.</p>}
      {agents.data && agents.data.length > 0 && (
        <table className="table">
          <thead>
            <tr>
              <th scope="col">Agent</th>
              <th scope="col">Backend</th>
              <th scope="col">Capabilities (skill)</th>
              <th scope="col">Capacity</th>
              <th scope="col">Tags</th>
              <th scope="col">Enabled</th>
            </tr>
          </thead>
          <tbody>
            {agents.data.map((a) => (
              <tr key={a.name}>
                <th scope="row">{a.name}</th>
                <td>{a.backend}</td>
                <td>
                  {Object.entries(a.capabilities)
                    .map(([c, skill]) => `${c} ${percent(skill)}`)
                    .join(", ") || "—"}
                </td>
                <td>{a.capacity}</td>
                <td>{a.tags.join(", ") || "—"}</td>
                <td>{a.enabled ? "yes" : "no"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Routing() {
  return (
    <section className="card" aria-labelledby="routing-title">
      <h2 id="routing-title">Routing rules</h2>
      <p className="hint">
        {READ_ONLY} the rules live in the agents file, and the API does not list them. See what they
        decide with a routing dry run on <Link to="/agents">Agents</Link> (which agent would take a
        capability now, and why).
      </p>
    </section>
  );
}

function Pool() {
  const pool = usePool();
  const config = useDashboardConfig();
  return (
    <section className="card" aria-labelledby="pool-title">
      <h2 id="pool-title">Pool</h2>
      <p className="hint">{READ_ONLY} the pool's nodes and limits are ACC_POOL_* settings.</p>
      <ErrorBox error={pool.error ?? config.error} />
      <dl className="facts">
        <div>
          <dt>Nodes browsers follow (ACC_POOL_URL)</dt>
          <dd>{config.data ? config.data.pool_urls.join(", ") || "none: the page polls" : "…"}</dd>
        </div>
        <div>
          <dt>Live nodes</dt>
          <dd>{pool.data ? pool.data.nodes.join(", ") || "none" : "…"}</dd>
        </div>
        <div>
          <dt>Remote agents connected</dt>
          <dd>{pool.data ? pool.data.agents.length : "…"}</dd>
        </div>
        <div>
          <dt>Temporal Web UI</dt>
          <dd>{config.data?.temporal_ui ?? "…"}</dd>
        </div>
      </dl>
    </section>
  );
}

type Standards = Schemas["Standards"];

function ReviewStandards() {
  const [team, setTeam] = useState("default");
  const [shownTeam, setShownTeam] = useState("default");
  const standards = useStandards(shownTeam);
  const rules = useRuleStats(shownTeam);
  const save = useSaveStandards(shownTeam);
  const [text, setText] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    if (standards.data) setText(JSON.stringify(standards.data, null, 2));
  }, [standards.data]);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    let body: Standards;
    try {
      body = JSON.parse(text) as Standards;
    } catch (exc) {
      setProblem(`Not valid JSON: ${(exc as Error).message}`);
      return;
    }
    setProblem(null);
    save.mutate(body);
  };
  return (
    <section className="card" aria-labelledby="standards-title">
      <h2 id="standards-title">Review standards</h2>
      <p className="hint">
        Rules on or off, severities and thresholds per team. Saving needs a key with the admin
        scope; the API checks the standards and names any field at fault.
      </p>
      <form
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setShownTeam(team || "default");
        }}
      >
        <div className="field">
          <label htmlFor="standards-team">Team</label>
          <input id="standards-team" value={team} onChange={(e) => setTeam(e.target.value)} />
        </div>
        <button type="submit">Show</button>
      </form>
      <ErrorBox error={standards.error} />
      {standards.isPending && <p className="muted">Loading the standards…</p>}
      {standards.data && (
        <form className="stack action" onSubmit={submit}>
          <label htmlFor="standards-json">Standards of {shownTeam} (JSON)</label>
          <textarea
            id="standards-json"
            className="code"
            rows={12}
            spellCheck={false}
            value={text}
            onChange={(e) => setText(e.target.value)}
          />
          {problem && (
            <p className="error" role="alert">
              {problem}
            </p>
          )}
          <ErrorBox error={save.error} title="The API refused the standards" />
          {save.isSuccess && <p role="status">Saved.</p>}
          <div className="actions">
            <button type="submit" className="primary" disabled={save.isPending}>
              Save
            </button>
          </div>
        </form>
      )}
      <ErrorBox error={rules.error} />
      {rules.data && (
        <details>
          <summary>
            Rules and their confidence for {shownTeam} ({rules.data.length})
          </summary>
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Rule</th>
                <th scope="col">Category</th>
                <th scope="col">Prior</th>
                <th scope="col">Confidence</th>
                <th scope="col">Accepted / rejected / modified</th>
              </tr>
            </thead>
            <tbody>
              {rules.data.map((r) => (
                <tr key={r.rule_id}>
                  <th scope="row">
                    <code>{r.rule_id}</code>
                  </th>
                  <td>{r.category}</td>
                  <td>{percent(r.prior)}</td>
                  <td>{percent(r.confidence)}</td>
                  <td>
                    {r.accepted} / {r.rejected} / {r.modified}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      )}
    </section>
  );
}

function Flags() {
  const flags = useFlags();
  return (
    <section className="card" aria-labelledby="flags-title">
      <h2 id="flags-title">Feature flags</h2>
      <p className="hint">{READ_ONLY} edit the flags file (ACC_FLAGS_FILE); a change shows on the next read.</p>
      <ErrorBox error={flags.error} />
      {flags.data?.error && <ErrorBox error={new Error(flags.data.error)} title="The flags file was not loaded" />}
      {flags.data && (
        <>
          <p className="muted small">File: {flags.data.source ?? "none (every flag off)"}</p>
          {flags.data.flags.length > 0 && (
            <table className="table">
              <thead>
                <tr>
                  <th scope="col">Flag</th>
                  <th scope="col">For this tenant</th>
                  <th scope="col">Rollout</th>
                  <th scope="col">Why</th>
                </tr>
              </thead>
              <tbody>
                {flags.data.flags.map((f) => (
                  <tr key={f.name}>
                    <th scope="row">{f.name}</th>
                    <td>{f.enabled ? "on" : "off"}{f.variant ? ` (${f.variant})` : ""}</td>
                    <td>{f.rollout == null ? "—" : percent(f.rollout)}</td>
                    <td>{f.reason ?? "—"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}
