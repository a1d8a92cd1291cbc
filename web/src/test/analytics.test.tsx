import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";

import Analytics, { previousRange, rangeOf, runsLink } from "../pages/Analytics";
import { runSearch } from "../pages/Runs";
import { fakeApi, json, renderAt } from "./render";

const START = Date.parse("2026-11-30T10:00:00Z");

function series(metric: string, values: (number | null)[], start = START) {
  return {
    metric,
    start: new Date(start).toISOString(),
    end: new Date(start + values.length * 60_000).toISOString(),
    step_seconds: 60,
    points: values.map((value, i) => ({ time: new Date(start + i * 60_000).toISOString(), value })),
  };
}

function routes() {
  return {
    "GET /v1/analytics/timeseries": (url: URL) => {
      const metric = url.searchParams.get("metric") ?? "";
      const start = url.searchParams.get("start");
      return json(200, series(metric, [1, 2, 9], start ? Date.parse(start) : START));
    },
    "GET /v1/analytics/anomalies": (url: URL) =>
      json(200, {
        metric: url.searchParams.get("metric"),
        window: 60,
        threshold: 3.5,
        points: [
          { time: new Date(START).toISOString(), value: 1, baseline: null, score: null, anomaly: false },
          { time: new Date(START + 120_000).toISOString(), value: 9, baseline: 1.5, score: 7.2, anomaly: true },
        ],
      }),
    "GET /v1/analytics/durations": () =>
      json(200, {
        kind: "step",
        count: 12,
        percentiles_ms: { p50: 120, p90: 800, p95: 1500, p99: null },
        histogram: [{ up_to_ms: 100, count: 4 }],
      }),
    "GET /v1/analytics/patterns": () =>
      json(200, [
        {
          pattern: "saga",
          runs_started: 4,
          runs_completed: 3,
          runs_failed: 1,
          completion_rate: 0.75,
          cost_per_run: 0.02,
          quality: null,
          run_ms_avg: 900,
          step_success_rate: 0.9,
        },
      ]),
  };
}

const queries = (calls: Request[], path: string) =>
  calls.map((c) => new URL(c.url)).filter((u) => u.pathname === path).map((u) => u.searchParams);

describe("performance analytics", () => {
  it("reads the range chosen, by button, key or custom range", async () => {
    const calls = fakeApi(routes());
    renderAt(<Analytics />, "/analytics");
    expect(await screen.findByRole("heading", { name: /runs completed · last 1h/ })).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "24h" }));
    expect(screen.getByRole("button", { name: "24h" })).toHaveAttribute("aria-pressed", "true");
    await waitFor(() =>
      expect(queries(calls, "/v1/analytics/timeseries").some((q) => q.get("range") === "24h")).toBe(true),
    );
    await userEvent.keyboard("5"); // the fifth preset
    expect(screen.getByRole("button", { name: "30d" })).toHaveAttribute("aria-pressed", "true");
    await userEvent.type(screen.getByLabelText("From"), "2026-11-29T08:00");
    await userEvent.type(screen.getByLabelText("To"), "2026-11-29T07:00");
    await userEvent.click(screen.getByRole("button", { name: "Apply" }));
    expect(screen.getByRole("alert")).toHaveTextContent("The start must be before the end.");
    await userEvent.clear(screen.getByLabelText("To"));
    await userEvent.type(screen.getByLabelText("To"), "2026-11-29T10:00");
    await userEvent.click(screen.getByRole("button", { name: "Apply" }));
    await waitFor(() => {
      const custom = queries(calls, "/v1/analytics/durations").find((q) => q.get("start"));
      expect(custom?.get("start")).toBe(new Date("2026-11-29T08:00").toISOString());
      expect(custom?.get("range")).toBeNull();
    });
  });

  it("marks anomalies, and drills down to the runs of a point or a pattern", async () => {
    fakeApi(routes());
    renderAt(<Analytics />, "/analytics?metric=runs_failed&pattern=saga");
    const table = await screen.findByTestId("anomalies");
    expect(within(table).getByText("7.2")).toBeInTheDocument();
    const link = within(table).getByRole("link", { name: "Runs then" });
    const at = new Date(START + 120_000).toISOString();
    const to = new Date(START + 180_000).toISOString();
    expect(link).toHaveAttribute("href", `/runs?from=${encodeURIComponent(at)}&to=${encodeURIComponent(to)}&pattern=saga`);
    expect(screen.getByText(/1 anomaly marked in red/)).toBeInTheDocument();
    expect(await screen.findByTestId("percentiles")).toHaveTextContent("p95");
    expect(screen.getByTestId("percentiles")).toHaveTextContent("1.50 s");
    expect(screen.getByRole("link", { name: "saga" }).getAttribute("href")).toMatch(/^\/runs\?from=.*&pattern=saga$/);
  });

  it("compares with the range before, or another metric", async () => {
    const calls = fakeApi(routes());
    renderAt(<Analytics />, "/analytics");
    await screen.findByRole("heading", { name: /runs completed/ });
    await userEvent.selectOptions(screen.getByLabelText("Compare with"), "previous");
    const comparison = await screen.findByTestId("comparison");
    expect(comparison).toHaveTextContent("the range before");
    const before = queries(calls, "/v1/analytics/timeseries").find((q) => q.get("start"));
    expect(before?.get("end")).toBe(new Date(START).toISOString());
    expect(before?.get("start")).toBe(new Date(START - 180_000).toISOString());
    await userEvent.selectOptions(screen.getByLabelText("Compare with"), "metric");
    await userEvent.selectOptions(screen.getByLabelText("Second metric"), "cost_usd");
    await waitFor(() => expect(screen.getByTestId("comparison")).toHaveTextContent("cost (USD), last 1h: $12.00"));
    await userEvent.selectOptions(screen.getByLabelText("Layout"), "side");
    expect(screen.getByRole("img", { name: /Line chart of cost \(USD\)/ })).toBeInTheDocument();
  });

  it("shows the API's message", async () => {
    fakeApi({
      ...routes(),
      "GET /v1/analytics/timeseries": () =>
        json(422, { error: { type: "invalid_input", message: "a range is at most 400 days" } }),
    });
    renderAt(<Analytics />, "/analytics");
    expect(await screen.findByRole("alert")).toHaveTextContent("a range is at most 400 days");
  });

  it("ranges, the range before and the runs of a time slot", () => {
    expect(rangeOf(new URLSearchParams("range=7d"))).toEqual({ preset: "7d" });
    expect(rangeOf(new URLSearchParams("range=2y"))).toEqual({ preset: "1h" });
    expect(rangeOf(new URLSearchParams("start=2026-01-01T00:00:00Z&end=2026-01-02T00:00:00Z"))).toEqual({
      start: "2026-01-01T00:00:00Z",
      end: "2026-01-02T00:00:00Z",
    });
    expect(previousRange(series("x", [1, 2]))).toEqual({
      start: new Date(START - 120_000).toISOString(),
      end: new Date(START).toISOString(),
    });
    const link = new URL(runsLink(new Date(START).toISOString(), 60), "http://x");
    // The runs list asks the API for the runs started in [from, to).
    const asked = runSearch(link.searchParams, "");
    expect([asked.since, asked.until]).toEqual([
      new Date(START).toISOString(),
      new Date(START + 60_000).toISOString(),
    ]);
  });
});
