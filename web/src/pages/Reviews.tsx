import { useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router-dom";

import {
  CATEGORIES,
  useCreateReview,
  useFeedback,
  usePatch,
  useReview,
  useReviews,
  type Action,
  type Category,
  type Review,
  type Suggestion,
} from "../api/reviews";
import { ErrorBox } from "../components/ErrorBox";
import { SideBySideDiff } from "../components/SideBySideDiff";
import { percent, when } from "../lib/format";
import { useShortcuts } from "../lib/shortcuts";
import { isPhone } from "../lib/viewport";

const DECIDED: Record<Action, string> = { accept: "accepted", reject: "rejected", modify: "modified" };

/** How sure a finding is, in words as well as a number (never only a colour). */
export function confidenceLevel(confidence: number): "high" | "medium" | "low" {
  return confidence >= 0.75 ? "high" : confidence >= 0.5 ? "medium" : "low";
}

export default function Reviews() {
  const { id } = useParams();
  return (
    <main className="page" id="main">
      <h1>Code review</h1>
      {id ? <ReviewDetail id={id} /> : <ReviewList />}
    </main>
  );
}

function ReviewList() {
  const reviews = useReviews();
  return (
    <>
      <NewReview />
      <section aria-labelledby="reviews-title">
        <h2 id="reviews-title">Reviews</h2>
        <ErrorBox error={reviews.error} />
        {reviews.isPending && <p className="muted">Loading reviews…</p>}
        {reviews.data && reviews.data.length === 0 && <p className="muted">No reviews yet.</p>}
        {reviews.data && reviews.data.length > 0 && (
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Review</th>
                <th scope="col">Team</th>
                <th scope="col">When</th>
                <th scope="col">Files</th>
                <th scope="col">Findings</th>
              </tr>
            </thead>
            <tbody>
              {reviews.data.map((r) => (
                <tr key={r.id} data-review-id={r.id}>
                  <td>
                    <Link to={`/reviews/${r.id}`}>{r.root}</Link>
                    {r.diff_ref && <span className="tag">since {r.diff_ref}</span>}
                  </td>
                  <td>{r.team}</td>
                  <td>{when(r.created_at)}</td>
                  <td>{r.files}</td>
                  <td>
                    {r.suggestions}
                    {r.suggestions > 0 && (
                      <span className="muted small">
                        {" "}
                        ({Object.entries(r.by_category).map(([c, n]) => `${c} ${n}`).join(", ")})
                      </span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}

function NewReview() {
  const [root, setRoot] = useState("");
  const [diffRef, setDiffRef] = useState("");
  const [team, setTeam] = useState("default");
  const create = useCreateReview();
  const navigate = useNavigate();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate(
      { root, diff_ref: diffRef || null, team: team || "default" },
      { onSuccess: (review) => navigate(`/reviews/${review.id}`) },
    );
  };
  return (
    <details className="card action">
      <summary>Review a folder</summary>
      <form className="filters" onSubmit={submit}>
        <div className="field">
          <label htmlFor="review-root">Folder on the API's machine (under ACC_REVIEW_ROOTS)</label>
          <input id="review-root" required value={root} onChange={(e) => setRoot(e.target.value)} size={40} />
        </div>
        <div className="field">
          <label htmlFor="review-ref">Only lines changed since (git ref, optional)</label>
          <input id="review-ref" value={diffRef} onChange={(e) => setDiffRef(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="review-team">Team</label>
          <input id="review-team" value={team} onChange={(e) => setTeam(e.target.value)} />
        </div>
        <button type="submit" className="primary" disabled={create.isPending}>
          {create.isPending ? "Reviewing…" : "Review"}
        </button>
      </form>
      <ErrorBox error={create.error} title="The API refused the review" />
    </details>
  );
}

function ReviewDetail({ id }: { id: string }) {
  const review = useReview(id);
  const [params, setParams] = useSearchParams();
  const shownCategories = useMemo(() => {
    const chosen = params.get("categories");
    return new Set<Category>(chosen === null ? CATEGORIES : (chosen.split(",").filter(Boolean) as Category[]));
  }, [params]);
  const toggle = (category: Category) => {
    const next = new Set(shownCategories);
    if (next.has(category)) next.delete(category);
    else next.add(category);
    const query = new URLSearchParams(params);
    if (next.size === CATEGORIES.length) query.delete("categories");
    else query.set("categories", CATEGORIES.filter((c) => next.has(c)).join(","));
    setParams(query, { replace: true });
  };
  const data = review.data;
  const shown = (data?.suggestions ?? []).filter((s) => shownCategories.has(s.category));
  const [selected, setSelected] = useState(0);
  const cards = useRef<(HTMLElement | null)[]>([]);
  const feedback = useFeedback(id);
  const decide = (s: Suggestion | undefined, action: Action) => {
    if (s) feedback.mutate({ suggestion_id: s.id, action });
  };
  const move = (by: number) => {
    const next = Math.min(Math.max(selected + by, 0), Math.max(shown.length - 1, 0));
    setSelected(next);
    cards.current[next]?.focus();
  };
  useShortcuts({
    j: () => move(1),
    k: () => move(-1),
    a: () => !isPhone() && decide(shown[selected], "accept"),
    x: () => !isPhone() && decide(shown[selected], "reject"),
  });

  if (review.isPending) return <p className="muted">Loading the review…</p>;
  if (!data) return <ErrorBox error={review.error} />;
  const counts = Object.fromEntries(
    CATEGORIES.map((c) => [c, data.suggestions.filter((s) => s.category === c).length]),
  );
  return (
    <>
      <p className="crumbs">
        <Link to="/reviews">Reviews</Link> / {data.root}
      </p>
      <dl className="facts">
        <div>
          <dt>Team</dt>
          <dd>{data.team}</dd>
        </div>
        <div>
          <dt>Files</dt>
          <dd>{data.files.length}</dd>
        </div>
        <div>
          <dt>Findings</dt>
          <dd>{data.suggestions.length}</dd>
        </div>
        <div>
          <dt>Only changes since</dt>
          <dd>{data.diff_ref ?? "—"}</dd>
        </div>
      </dl>
      {data.errors.length > 0 && <ErrorBox error={new Error(data.errors.join("; "))} title="The analyser reported problems" />}
      <fieldset className="filters categories">
        <legend>Categories</legend>
        {CATEGORIES.map((c) => (
          <label key={c} className="check">
            <input type="checkbox" checked={shownCategories.has(c)} onChange={() => toggle(c)} /> {c} ({counts[c]})
          </label>
        ))}
      </fieldset>
      <CombinedPatch review={data} />
      <ErrorBox error={feedback.error} title="The API refused the feedback" />
      <p className="hint">
        {shown.length} of {data.suggestions.length} findings shown. Keys: j / k to move, a to accept, x to reject.
      </p>
      <ol className="findings">
        {shown.map((s, i) => (
          <li key={s.id}>
            <Finding
              suggestion={s}
              decision={data.feedback[s.id]}
              selected={i === selected}
              busy={feedback.isPending && feedback.variables?.suggestion_id === s.id}
              onDecide={(action, comment) => feedback.mutate({ suggestion_id: s.id, action, comment })}
              onFocus={() => setSelected(i)}
              cardRef={(el) => {
                cards.current[i] = el;
              }}
            />
          </li>
        ))}
      </ol>
    </>
  );
}

function Finding({
  suggestion: s,
  decision,
  selected,
  busy,
  onDecide,
  onFocus,
  cardRef,
}: {
  suggestion: Suggestion;
  decision: Action | undefined;
  selected: boolean;
  busy: boolean;
  onDecide: (action: Action, comment: string | null) => void;
  onFocus: () => void;
  cardRef: (el: HTMLElement | null) => void;
}) {
  const [comment, setComment] = useState("");
  const level = confidenceLevel(s.confidence);
  const titleId = `finding-${s.id}`;
  return (
    <article
      className={`card finding${selected ? " selected" : ""}`}
      aria-labelledby={titleId}
      tabIndex={-1}
      ref={cardRef}
      onFocus={onFocus}
      data-suggestion={s.rule_id}
    >
      <div className="title-row">
        <h3 id={titleId}>
          <span className={`badge badge-sev-${s.severity}`}>{s.severity}</span> {s.message}
        </h3>
        <span className="tag">{s.category}</span>
      </div>
      <p className="muted small">
        <code>
          {s.path}:{s.line}
        </code>{" "}
        · {s.rule_id}
        {s.cwe ? ` · ${s.cwe}` : ""}
      </p>
      <p className="confidence" data-level={level}>
        Confidence:{" "}
        <meter min={0} max={1} low={0.5} high={0.75} optimum={1} value={s.confidence} aria-label={`Confidence of ${s.rule_id}`} />{" "}
        {percent(s.confidence)} ({level})
      </p>
      {s.explanation && <p>{s.explanation}</p>}
      {s.patch ? (
        <SideBySideDiff patch={s.patch} label={`Fix for ${s.path} line ${s.line}`} />
      ) : (
        <>
          {s.snippet && <pre>{s.snippet}</pre>}
          <p className="muted small">No automatic fix{s.alternatives?.length ? `; instead: ${s.alternatives.join("; ")}` : "."}</p>
        </>
      )}
      <div className="actions">
        <span>
          Decision: <strong data-testid="decision">{decision ? DECIDED[decision] : "none yet"}</strong>
        </span>
        <button type="button" className="primary action" disabled={busy} aria-pressed={decision === "accept"} onClick={() => onDecide("accept", comment || null)}>
          Accept
        </button>
        <button type="button" className="action" disabled={busy} aria-pressed={decision === "reject"} onClick={() => onDecide("reject", comment || null)}>
          Reject
        </button>
        <button type="button" className="action" disabled={busy || !comment} aria-pressed={decision === "modify"} onClick={() => onDecide("modify", comment)}>
          Modified
        </button>
        <label htmlFor={`comment-${s.id}`} className="visually-hidden">
          Comment on {s.rule_id} at line {s.line}
        </label>
        <input
          id={`comment-${s.id}`}
          placeholder="comment (needed for Modified)"
          value={comment}
          onChange={(e) => setComment(e.target.value)}
          onKeyDown={(e) => e.key === "Escape" && e.currentTarget.blur()}
        />
      </div>
    </article>
  );
}

function CombinedPatch({ review }: { review: Review }) {
  const accepted = review.suggestions.filter((s) => review.feedback[s.id] === "accept");
  const patch = usePatch(review.id);
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    if (!patch.data) return;
    const made = URL.createObjectURL(new Blob([patch.data.text], { type: "text/x-diff" }));
    setUrl(made);
    return () => URL.revokeObjectURL(made);
  }, [patch.data]);
  return (
    <section className="card" aria-labelledby="patch-title">
      <h2 id="patch-title">Accepted fixes as one patch</h2>
      <div className="actions action">
        <button
          type="button"
          className="primary"
          disabled={accepted.length === 0 || patch.isPending}
          onClick={() => patch.mutate(accepted.map((s) => s.id))}
        >
          Apply {accepted.length} accepted as one patch
        </button>
        {url && patch.data && (
          <a className="button" href={url} download={`review-${review.id}.patch`}>
            Download the patch
          </a>
        )}
      </div>
      <ErrorBox error={patch.error} />
      {patch.data && (
        <>
          <p className="hint">
            Apply it with <code>git apply review-{review.id}.patch</code> in {review.root}.
            {patch.data.leftOut.length > 0 &&
              ` Left out (no fix, or the code changed since): ${patch.data.leftOut.join(", ")}.`}
          </p>
          <pre data-testid="combined-patch">{patch.data.text || "(empty: none of them has a fix)"}</pre>
        </>
      )}
    </section>
  );
}
