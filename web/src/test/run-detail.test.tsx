import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";

import { stages } from "../components/StepGraph";
import RunDetail from "../pages/RunDetail";
import { fakeApi, json, renderAt, summary } from "./render";
import type { StepState } from "../api/client";

function step(index: number, name: string, status: StepState["status"], group: string | null = null) {
  return { index, name, status, group, kind: "agent", reused: false } as StepState;
}

const WAITING = {
  ...summary("deploy-000000000001", "waiting"),
  waiting: { kind: "approval", step: "deploy", reason: "ship it?", since: new Date().toISOString() },
  steps: [step(0, "build", "completed")],
  pending: ["deploy"],
  usage: { input_tokens: 0, output_tokens: 0, cost_usd: 0 },
  notes: [],
  events_handled: 0,
};

describe("run detail", () => {
  it("approves a waiting run with the reason typed", async () => {
    let approved = false;
    const done = { ...WAITING, status: "completed", waiting: null };
    const calls = fakeApi({
      "GET /v1/runs/deploy-000000000001": () => json(200, approved ? done : WAITING),
      "POST /v1/runs/deploy-000000000001/approve": () => {
        approved = true;
        return json(200, done);
      },
    });
    renderAt(<RunDetail />, "/runs/deploy-000000000001", "/runs/:id");
    expect(await screen.findByText(/ship it\?/)).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Open in Temporal Web UI" })).toHaveAttribute(
      "href",
      "http://ui/namespaces/default/workflows/deploy-000000000001",
    );
    await userEvent.type(screen.getByLabelText(/Reason/), "fine by me");
    await userEvent.click(screen.getByRole("button", { name: "Approve" }));
    await waitFor(() => expect(calls.some((c) => c.url.endsWith("/approve"))).toBe(true));
    const sent = calls.find((c) => c.url.endsWith("/approve"))!;
    expect(await sent.clone().json()).toEqual({ comment: "fine by me" });
    expect(await screen.findByText("completed", { selector: "h1 .badge" })).toBeInTheDocument();
  });

  it("shows the API's refusal of a decision", async () => {
    fakeApi({
      "GET /v1/runs/deploy-000000000001": () => json(200, WAITING),
      "POST /v1/runs/deploy-000000000001/reject": () =>
        json(409, { error: { type: "conflict", message: "only a member of releases may decide" } }),
    });
    renderAt(<RunDetail />, "/runs/deploy-000000000001", "/runs/:id");
    await userEvent.click(await screen.findByRole("button", { name: "Reject" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("only a member of releases may decide");
  });

  it("cancels after a confirmation", async () => {
    const calls = fakeApi({
      "GET /v1/runs/deploy-000000000001": () => json(200, WAITING),
      "POST /v1/runs/deploy-000000000001/cancel": () =>
        json(202, { id: "deploy-000000000001", status: "running", links: WAITING.links }),
    });
    renderAt(<RunDetail />, "/runs/deploy-000000000001", "/runs/:id");
    await userEvent.click(await screen.findByRole("button", { name: "Cancel run" }));
    expect(calls.some((c) => c.url.endsWith("/cancel"))).toBe(false);
    await userEvent.click(screen.getByRole("button", { name: "Yes, cancel the run" }));
    await waitFor(() => expect(calls.some((c) => c.url.endsWith("/cancel"))).toBe(true));
  });
});

describe("step graph", () => {
  it("chains ungrouped steps and puts a group's steps side by side", () => {
    const graph = stages([
      step(3, "merge", "completed"),
      step(0, "plan", "completed"),
      step(1, "job-a", "completed", "round-1"),
      step(2, "job-b", "failed", "round-1"),
      step(4, "undo", "completed", "compensation"),
    ]);
    expect(graph.map((s) => [s.group, s.steps.map((x) => x.name)])).toEqual([
      [null, ["plan"]],
      ["round-1", ["job-a", "job-b"]],
      [null, ["merge"]],
      ["compensation", ["undo"]],
    ]);
  });
});
