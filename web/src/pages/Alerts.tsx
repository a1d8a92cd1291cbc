import { useState, type FormEvent } from "react";

import {
  useAcknowledge,
  useAlertRules,
  useAlerts,
  useCreateRule,
  useDeleteRule,
  useTestAlert,
  type AlertStatus,
  type RuleSpec,
} from "../api/alerts";
import { METRICS, type Metric } from "../api/analytics";
import { ErrorBox } from "../components/ErrorBox";
import { Modal } from "../components/Modal";
import { StatusBadge } from "../components/StatusBadge";
import { when } from "../lib/format";

export default function Alerts() {
  return (
    <main className="page" id="main">
      <h1>Alerts</h1>
      <History />
      <Rules />
      <p className="hint">
        Escalation policies: the API has none yet; a rule notifies its one channel (a webhook or
        Slack) when it fires, and not again while it stays open or acknowledged.
      </p>
    </main>
  );
}

function History() {
  const [status, setStatus] = useState<AlertStatus | "">("");
  const alerts = useAlerts(status || null);
  const ack = useAcknowledge();
  return (
    <section aria-labelledby="history-title">
      <div className="title-row">
        <h2 id="history-title">Alerts and history</h2>
        <div className="field">
          <label htmlFor="alert-status">Status</label>
          <select id="alert-status" value={status} onChange={(e) => setStatus(e.target.value as AlertStatus | "")}>
            <option value="">any</option>
            <option value="firing">firing</option>
            <option value="acknowledged">acknowledged</option>
            <option value="resolved">resolved</option>
          </select>
        </div>
      </div>
      <ErrorBox error={alerts.error} />
      <ErrorBox error={ack.error} title="The API refused the acknowledgement" />
      {alerts.isPending && <p className="muted">Loading alerts…</p>}
      {alerts.data && alerts.data.length === 0 && <p className="muted">No alerts{status ? ` ${status}` : ""}.</p>}
      {alerts.data && alerts.data.length > 0 && (
        <table className="table">
          <thead>
            <tr>
              <th scope="col">Rule</th>
              <th scope="col">Status</th>
              <th scope="col">Message</th>
              <th scope="col">Opened</th>
              <th scope="col">Last seen</th>
              <th scope="col">Times</th>
              <th scope="col">Action</th>
            </tr>
          </thead>
          <tbody>
            {alerts.data.map((a) => (
              <tr key={a.id} data-alert-id={a.id}>
                <th scope="row">{a.rule_name}</th>
                <td>
                  <StatusBadge status={a.status} />
                </td>
                <td>{a.message}</td>
                <td>{when(a.opened_at)}</td>
                <td>{when(a.last_seen_at)}</td>
                <td>{a.occurrences}</td>
                <td>
                  {a.status === "firing" ? (
                    <button
                      type="button"
                      className="action"
                      disabled={ack.isPending && ack.variables === a.id}
                      onClick={() => ack.mutate(a.id)}
                    >
                      Acknowledge <span className="visually-hidden">{a.rule_name}</span>
                    </button>
                  ) : a.acknowledged_by ? (
                    <span className="muted small">
                      by {a.acknowledged_by}, {when(a.acknowledged_at)}
                    </span>
                  ) : (
                    "—"
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Rules() {
  const rules = useAlertRules();
  const test = useTestAlert();
  const remove = useDeleteRule();
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState<{ id: string; name: string } | null>(null);
  return (
    <section aria-labelledby="rules-title">
      <div className="title-row">
        <h2 id="rules-title">Rules</h2>
        <button type="button" className="action" onClick={() => setCreating(true)}>
          New rule
        </button>
      </div>
      <ErrorBox error={rules.error} />
      <ErrorBox error={test.error} title="The test alert was not sent" />
      <ErrorBox error={remove.error} title="The API refused to delete the rule" />
      {test.data && (
        <p role="status" data-testid="test-outcome">
          Test alert for {rules.data?.find((r) => r.id === test.variables)?.name ?? test.variables}: {test.data.outcome}
        </p>
      )}
      {rules.isPending && <p className="muted">Loading rules…</p>}
      {rules.data && rules.data.length === 0 && <p className="muted">No rules yet.</p>}
      {rules.data && rules.data.length > 0 && (
        <table className="table">
          <thead>
            <tr>
              <th scope="col">Rule</th>
              <th scope="col">When</th>
              <th scope="col">Scope</th>
              <th scope="col">Notifies</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {rules.data.map((r) => (
              <tr key={r.id} data-rule={r.name}>
                <th scope="row">{r.name}</th>
                <td>
                  {r.kind === "threshold"
                    ? `${r.metric} ${r.op} ${r.threshold} over ${r.window_minutes} min`
                    : r.kind === "anomaly"
                      ? `${r.metric}: the last minute is an anomaly`
                      : `no events for ${r.window_minutes} min`}
                </td>
                <td>{[r.pattern, r.agent].filter(Boolean).join(", ") || "all"}</td>
                <td>
                  {r.channel} · <code>{r.destination}</code>
                </td>
                <td className="actions">
                  <button type="button" className="action" disabled={test.isPending} onClick={() => test.mutate(r.id)}>
                    Send test alert <span className="visually-hidden">for {r.name}</span>
                  </button>
                  <button type="button" className="danger action" onClick={() => setDeleting({ id: r.id, name: r.name })}>
                    Delete <span className="visually-hidden">{r.name}</span>
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {creating && <NewRule onClose={() => setCreating(false)} />}
      {deleting && (
        <Modal title={`Delete the rule ${deleting.name}?`} onClose={() => setDeleting(null)}>
          <p>Its alerts stay in the history.</p>
          <div className="actions">
            <button
              type="button"
              className="danger"
              onClick={() => remove.mutate(deleting.id, { onSettled: () => setDeleting(null) })}
            >
              Delete
            </button>
            <button type="button" onClick={() => setDeleting(null)}>
              Keep it
            </button>
          </div>
        </Modal>
      )}
    </section>
  );
}

function NewRule({ onClose }: { onClose: () => void }) {
  const create = useCreateRule();
  const [spec, setSpec] = useState<RuleSpec>({
    name: "",
    kind: "threshold",
    metric: "runs_failed",
    op: ">",
    threshold: 0,
    window_minutes: 5,
    baseline_minutes: 60,
    baseline_lag_minutes: 0,
    channel: "webhook",
    url: "",
  });
  const set = (changes: Partial<RuleSpec>) => setSpec((old) => ({ ...old, ...changes }));
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate(spec, { onSuccess: onClose });
  };
  return (
    <Modal title="New alert rule" onClose={onClose}>
      <form className="stack" onSubmit={submit}>
        <label htmlFor="rule-name">Name</label>
        <input id="rule-name" required value={spec.name} onChange={(e) => set({ name: e.target.value })} />
        <label htmlFor="rule-kind">Kind</label>
        <select id="rule-kind" value={spec.kind} onChange={(e) => set({ kind: e.target.value as RuleSpec["kind"] })}>
          <option value="threshold">threshold: the metric over the window against a limit</option>
          <option value="anomaly">anomaly: the last minute is an anomaly</option>
          <option value="absence">absence: no events in the window</option>
        </select>
        <label htmlFor="rule-metric">Metric</label>
        <select id="rule-metric" value={spec.metric} onChange={(e) => set({ metric: e.target.value as Metric })}>
          {METRICS.map(([m, label]) => (
            <option key={m} value={m}>
              {label}
            </option>
          ))}
        </select>
        <div className="actions">
          <label htmlFor="rule-op">Is</label>
          <select id="rule-op" value={spec.op} onChange={(e) => set({ op: e.target.value as RuleSpec["op"] })}>
            {[">", ">=", "<", "<="].map((op) => (
              <option key={op}>{op}</option>
            ))}
          </select>
          <label htmlFor="rule-threshold">Threshold</label>
          <input id="rule-threshold" type="number" step="any" value={spec.threshold} onChange={(e) => set({ threshold: Number(e.target.value) })} />
          <label htmlFor="rule-window">Window (minutes)</label>
          <input id="rule-window" type="number" min={1} max={1440} value={spec.window_minutes} onChange={(e) => set({ window_minutes: Number(e.target.value) })} />
        </div>
        <label htmlFor="rule-channel">Channel</label>
        <select id="rule-channel" value={spec.channel} onChange={(e) => set({ channel: e.target.value as RuleSpec["channel"] })}>
          <option value="webhook">webhook (JSON)</option>
          <option value="slack">Slack (incoming webhook)</option>
        </select>
        <label htmlFor="rule-url">URL notifications are posted to</label>
        <input id="rule-url" type="url" required value={spec.url} onChange={(e) => set({ url: e.target.value })} />
        <ErrorBox error={create.error} title="The API refused the rule" />
        <div className="actions">
          <button type="submit" className="primary" disabled={create.isPending}>
            Create
          </button>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Modal>
  );
}
