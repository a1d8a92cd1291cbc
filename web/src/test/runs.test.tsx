import { fireEvent, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";

import Runs, { filterRuns, StartRun } from "../pages/Runs";
import { fakeApi, json, renderAt, summary } from "./render";
import type { RunSummary } from "../api/client";

const RUNS = [
  summary("alpha-000000000001", "completed"),
  summary("beta-000000000002", "failed"),
  summary("gamma-000000000003", "running"),
];

describe("runs list", () => {
  it("lists the runs the API gives, and asks it for the status chosen", async () => {
    const calls = fakeApi({ "GET /v1/runs": () => json(200, RUNS) });
    renderAt(<Runs />, "/runs");
    expect(await screen.findByRole("link", { name: "alpha" })).toBeInTheDocument();
    expect(screen.getByText("3 runs")).toBeInTheDocument();
    await userEvent.selectOptions(screen.getByLabelText("Status"), "failed");
    await waitFor(() =>
      expect(calls.some((c) => new URL(c.url).searchParams.get("status") === "failed")).toBe(true),
    );
  });

  it("searches by id or name, and / focuses the search, j and k move between rows", async () => {
    fakeApi({ "GET /v1/runs": () => json(200, RUNS) });
    renderAt(<Runs />, "/runs");
    await screen.findByRole("link", { name: "alpha" });
    await userEvent.keyboard("j");
    expect(screen.getByRole("link", { name: "beta" })).toHaveFocus();
    await userEvent.keyboard("k");
    expect(screen.getByRole("link", { name: "alpha" })).toHaveFocus();
    (document.activeElement as HTMLElement).blur();
    await userEvent.keyboard("/");
    const search = screen.getByLabelText("Search");
    expect(search).toHaveFocus();
    await userEvent.type(search, "gam");
    expect(screen.getByText("1 run")).toBeInTheDocument();
    expect(screen.queryByRole("link", { name: "alpha" })).not.toBeInTheDocument();
  });

  it("shows the API's message when the list fails", async () => {
    fakeApi({
      "GET /v1/runs": () =>
        json(503, { error: { type: "service_unavailable", message: "Temporal is unreachable at x" } }),
    });
    renderAt(<Runs />, "/runs");
    expect(await screen.findByRole("alert")).toHaveTextContent("Temporal is unreachable at x");
  });

  it("filters by time window", () => {
    const now = Date.parse("2026-01-02T00:00:00Z");
    const runs = [
      { ...RUNS[0], started_at: "2026-01-01T23:30:00Z" },
      { ...RUNS[1], started_at: "2025-12-01T00:00:00Z" },
    ] as RunSummary[];
    expect(filterRuns(runs, "", "1h", now).map((r) => r.id)).toEqual(["alpha-000000000001"]);
    expect(filterRuns(runs, "", "", now)).toHaveLength(2);
    expect(filterRuns(runs, "BETA", "", now).map((r) => r.id)).toEqual(["beta-000000000002"]);
  });
});

describe("start a run", () => {
  it("refuses text that is not JSON before asking the API", async () => {
    const calls = fakeApi({});
    renderAt(<StartRun onClose={() => {}} />);
    fireEvent.change(screen.getByLabelText(/Run spec/), { target: { value: "{nope" } });
    await userEvent.click(screen.getByRole("button", { name: "Start" }));
    expect(screen.getByRole("alert")).toHaveTextContent("not valid JSON");
    expect(calls).toHaveLength(0);
  });

  it("shows the field the API names, then starts the run", async () => {
    let attempt = 0;
    const calls = fakeApi({
      "POST /v1/runs": () =>
        ++attempt === 1
          ? json(422, {
              error: {
                type: "invalid_input",
                message: "invalid request: steps[0].agent: Field required",
                details: [{ field: "steps[0].agent", message: "Field required" }],
              },
            })
          : json(202, { id: "hello-abc", status: "running", links: summary("hello-abc", "running").links }),
    });
    renderAt(<StartRun onClose={() => {}} />);
    await userEvent.click(screen.getByRole("button", { name: "Start" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("steps[0].agent: Field required");
    await userEvent.click(screen.getByRole("button", { name: "Start" }));
    await waitFor(() => expect(calls).toHaveLength(2));
    const body = await calls[1]!.clone().json();
    expect(body.name).toBe("hello-pipeline");
  });
});
