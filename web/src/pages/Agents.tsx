import { useState, type FormEvent } from "react";

import { useAgents, useBreakers, useRoute } from "../api/hooks";
import { ErrorBox } from "../components/ErrorBox";
import { StatusBadge } from "../components/StatusBadge";
import { percent, when } from "../lib/format";

export default function Agents() {
  const agents = useAgents();
  const breakers = useBreakers();
  return (
    <main className="page" id="main">
      <h1>Agents</h1>
      <section aria-labelledby="agents-title">
        <h2 id="agents-title">Declared agents</h2>
        <ErrorBox error={agents.error} />
        {agents.isPending && <p className="muted">Loading agents…</p>}
        {agents.data && agents.data.length === 0 && <p className="muted">No agents declared.</p>}
        {agents.data && agents.data.length > 0 && (
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Agent</th>
                <th scope="col">Backend</th>
                <th scope="col">Capabilities</th>
                <th scope="col">Load</th>
                <th scope="col">Breaker</th>
                <th scope="col">Tags</th>
              </tr>
            </thead>
            <tbody>
              {agents.data.map((agent) => (
                <tr key={agent.name} data-agent={agent.name}>
                  <th scope="row">
                    {agent.name}
                    {!agent.enabled && <span className="tag">disabled</span>}
                  </th>
                  <td>{agent.backend}</td>
                  <td>
                    {Object.entries(agent.capabilities)
                      .map(([name, skill]) => `${name} ${percent(skill)}`)
                      .join(", ") || "—"}
                  </td>
                  <td>
                    <meter
                      min={0}
                      max={Math.max(agent.capacity, 1)}
                      value={agent.in_flight}
                      aria-label={`${agent.name} load`}
                    />{" "}
                    {agent.in_flight} / {agent.capacity}
                  </td>
                  <td>
                    <StatusBadge status={agent.breaker} />
                  </td>
                  <td>{agent.tags.join(", ") || "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section aria-labelledby="breakers-title">
        <h2 id="breakers-title">Circuit breakers</h2>
        <ErrorBox error={breakers.error} />
        {breakers.data && breakers.data.length === 0 && (
          <p className="muted">No breaker has recorded a call yet.</p>
        )}
        {breakers.data && breakers.data.length > 0 && (
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Breaker</th>
                <th scope="col">State</th>
                <th scope="col">Recent failures</th>
                <th scope="col">Lets a probe through at</th>
              </tr>
            </thead>
            <tbody>
              {breakers.data.map((b) => (
                <tr key={b.key}>
                  <th scope="row">{b.key}</th>
                  <td>
                    <StatusBadge status={b.state} />
                  </td>
                  <td>{b.failures}</td>
                  <td>{b.retry_at ? when(new Date(b.retry_at * 1000).toISOString()) : "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <RouteProbe />
    </main>
  );
}

/** A dry run of the router: which agent a step asking for a capability would get now. */
function RouteProbe() {
  const route = useRoute();
  const [capability, setCapability] = useState("");
  const submit = (event: FormEvent) => {
    event.preventDefault();
    route.mutate({ capability, min_skill: 0, tags: [], task_key: "" });
  };
  return (
    <section className="card" aria-labelledby="route-title">
      <h2 id="route-title">Routing decision (dry run)</h2>
      <form className="filters" onSubmit={submit}>
        <div className="field">
          <label htmlFor="route-capability">Capability</label>
          <input
            id="route-capability"
            value={capability}
            onChange={(e) => setCapability(e.target.value)}
            placeholder="e.g. code"
          />
        </div>
        <button type="submit" className="primary" disabled={!capability || route.isPending}>
          Route
        </button>
      </form>
      <ErrorBox error={route.error} />
      {route.data && (
        <div data-testid="route-decision">
          <p>
            <strong>{route.data.agent}</strong> ({route.data.backend}), {route.data.strategy}, score{" "}
            {route.data.score.toFixed(2)}; {route.data.considered} of {route.data.candidates} considered
            {route.data.fallback_used ? ", fallback used" : ""}
          </p>
          <ul>
            {route.data.reasons.map((reason, i) => (
              <li key={i}>{reason}</li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}
