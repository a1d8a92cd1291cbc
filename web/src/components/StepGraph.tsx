import type { StepState } from "../api/client";
import { StatusBadge } from "./StatusBadge";
import { duration } from "../lib/format";

export interface Stage {
  /** The group the steps share (round-1, iteration-2, compensation...), or null for one step. */
  group: string | null;
  steps: StepState[];
}

/**
 * A run's steps as stages in order: consecutive steps of the same group run side by side
 * (a scatter's fan-out, a consensus round, a supervisor iteration, a saga's compensations);
 * steps without a group follow one another (a pipeline's chain).
 */
export function stages(steps: StepState[]): Stage[] {
  const out: Stage[] = [];
  for (const step of [...steps].sort((a, b) => a.index - b.index)) {
    const group = step.group ?? null;
    const last = out[out.length - 1];
    if (group !== null && last && last.group === group) last.steps.push(step);
    else out.push({ group, steps: [step] });
  }
  return out;
}

export function StepGraph({ steps, pending }: { steps: StepState[]; pending: string[] }) {
  const all = stages(steps);
  if (all.length === 0 && pending.length === 0) return <p className="muted">No steps yet.</p>;
  return (
    <ol className="graph" aria-label="Steps in order">
      {all.map((stage, i) => (
        <li
          key={`${stage.group ?? "step"}-${i}`}
          className={`stage${stage.group === "compensation" ? " compensation" : ""}`}
        >
          {stage.group && <div className="stage-label">{stage.group}</div>}
          <ul aria-label={stage.group ?? `step ${stage.steps[0]?.name ?? ""}`}>
            {stage.steps.map((step) => (
              <li key={step.index} className={`node node-${step.status}`} data-step={step.name}>
                <div className="node-name">
                  <span className="muted small">#{step.index}</span> {step.name}
                  {step.reused && <span className="tag">reused</span>}
                  {step.kind === "child" && <span className="tag">child run</span>}
                </div>
                <StatusBadge status={step.status} />
                <div className="muted small">
                  {duration(step.started_at, step.ended_at)}
                  {step.result?.usage && step.result.usage.cost_usd > 0
                    ? ` · $${step.result.usage.cost_usd.toFixed(4)}`
                    : ""}
                </div>
                {step.error && <div className="bad-text small">{step.error}</div>}
              </li>
            ))}
          </ul>
        </li>
      ))}
      {pending.map((name) => (
        <li key={`pending-${name}`} className="stage">
          <ul aria-label={`step ${name}`}>
            <li className="node node-pending" data-step={name}>
              <div className="node-name">{name}</div>
              <StatusBadge status="pending" />
            </li>
          </ul>
        </li>
      ))}
    </ol>
  );
}
