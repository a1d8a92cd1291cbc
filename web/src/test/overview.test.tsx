import { screen, within } from "@testing-library/react";

import { total, weightedQuality } from "../api/analytics";
import Overview from "../pages/Overview";
import { fakeApi, json, renderAt, summary } from "./render";

const HEALTH = { status: "ok", checks: { temporal: "ok" }, down: [], degraded: [] };

function series(metric: string, values: (number | null)[]) {
  const start = Date.parse("2026-11-30T00:00:00Z");
  return {
    metric,
    start: new Date(start).toISOString(),
    end: new Date(start + values.length * 900_000).toISOString(),
    step_seconds: 900,
    points: values.map((value, i) => ({ time: new Date(start + i * 900_000).toISOString(), value })),
  };
}

function pattern(name: string, runs: number, quality: number | null) {
  return {
    pattern: name,
    runs_started: runs,
    runs_completed: runs,
    runs_failed: 0,
    completion_rate: 1,
    cost_per_run: 0.01,
    quality,
    run_ms_avg: 1000,
    step_success_rate: 1,
  };
}

describe("the overview", () => {
  it("shows the cost and quality of the last 24 hours from the analytics", async () => {
    const calls = fakeApi({
      "GET /v1/runs": () => json(200, [summary("a-1", "completed")]),
      "GET /v1/agents": () => json(200, []),
      "GET /readyz": () => json(200, HEALTH),
      "GET /v1/analytics/timeseries": (url) =>
        url.searchParams.get("metric") === "cost_usd" && url.searchParams.get("range") === "24h"
          ? json(200, series("cost_usd", [0.5, null, 1.25]))
          : json(422, { error: { type: "invalid_input", message: "unexpected query" } }),
      "GET /v1/analytics/patterns": () =>
        json(200, [pattern("pipeline", 3, 0.9), pattern("saga", 1, 0.5), pattern("consensus", 2, null)]),
    });
    renderAt(<Overview />);
    const cost = (await screen.findByText("Cost (24 h)")).closest("div") as HTMLElement;
    expect(await within(cost).findByRole("link", { name: "$1.75" })).toHaveAttribute(
      "href",
      "/analytics?metric=cost_usd&range=24h",
    );
    const quality = screen.getByText("Quality (24 h)").closest("div") as HTMLElement;
    expect(await within(quality).findByText("80%")).toBeInTheDocument(); // (0.9*3 + 0.5*1) / 4
    expect(screen.getByRole("heading", { name: /Cost over time/ })).toBeInTheDocument();
    expect(calls.some((c) => new URL(c.url).pathname === "/v1/analytics/patterns")).toBe(true);
  });

  it("shows the API's message when the analytics refuse", async () => {
    fakeApi({
      "GET /v1/runs": () => json(200, []),
      "GET /v1/agents": () => json(200, []),
      "GET /readyz": () => json(200, HEALTH),
      "GET /v1/analytics/timeseries": () =>
        json(503, { error: { type: "unavailable", message: "the analytics store does not answer" } }),
      "GET /v1/analytics/patterns": () => json(200, []),
    });
    renderAt(<Overview />);
    expect(await screen.findByRole("alert")).toHaveTextContent("the analytics store does not answer");
  });

  it("sums a series and weighs quality by completed runs", () => {
    expect(total(series("cost_usd", [null, null]))).toBeNull();
    expect(total(series("cost_usd", [1, 2, null]))).toBe(3);
    expect(weightedQuality([pattern("a", 1, 1), pattern("b", 3, 0.5)])).toBeCloseTo(0.625);
    expect(weightedQuality([])).toBeNull();
  });
});
