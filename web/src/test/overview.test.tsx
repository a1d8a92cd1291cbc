import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";

import { total, weightedQuality } from "../api/analytics";
import { setKey } from "../lib/auth";
import { keyId, storedLayout } from "../lib/layout";
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

describe("arranging the overview", () => {
  const answering = () =>
    fakeApi({
      "GET /v1/runs": () => json(200, []),
      "GET /v1/agents": () => json(200, []),
      "GET /readyz": () => json(200, HEALTH),
      "GET /v1/analytics/timeseries": () => json(200, series("cost_usd", [1])),
      "GET /v1/analytics/patterns": () => json(200, []),
    });
  const order = () =>
    Array.from(document.querySelectorAll("[data-widget]")).map((e) => e.getAttribute("data-widget"));

  beforeEach(() => localStorage.clear());
  afterEach(() => setKey(null));

  it("moves a widget by its buttons, keeps the order per signed-in key, and resets it", async () => {
    setKey("acc_0a1b2c3d4e5f_s3cret");
    answering();
    const first = renderAt(<Overview />);
    expect(order()).toEqual(["kpis", "runs-chart", "health", "cost"]);
    await userEvent.click(screen.getByRole("button", { name: "Move System health earlier" }));
    expect(order()).toEqual(["kpis", "health", "runs-chart", "cost"]);
    await userEvent.click(screen.getByRole("button", { name: "Move Key figures later" }));
    expect(order()).toEqual(["health", "kpis", "runs-chart", "cost"]);
    const stored = localStorage.getItem("acc.overview.0a1b2c3d4e5f");
    expect(JSON.parse(stored ?? "null")).toEqual(["health", "kpis", "runs-chart", "cost"]);
    expect(Object.keys({ ...localStorage }).join(" ")).not.toContain("s3cret");
    first.unmount();

    const again = renderAt(<Overview />);
    expect(order()).toEqual(["health", "kpis", "runs-chart", "cost"]);
    again.unmount();

    setKey("acc_ffffffffffff_other");
    const other = renderAt(<Overview />);
    expect(order()).toEqual(["kpis", "runs-chart", "health", "cost"]);
    other.unmount();

    setKey("acc_0a1b2c3d4e5f_s3cret");
    renderAt(<Overview />);
    await userEvent.click(screen.getByRole("button", { name: "Reset layout" }));
    expect(order()).toEqual(["kpis", "runs-chart", "health", "cost"]);
    expect(screen.getByRole("button", { name: "Reset layout" })).toBeDisabled();
  });

  it("drags a widget with the keyboard: Space lifts it, an arrow moves it, Space drops it", async () => {
    // jsdom lays nothing out: stack the widgets 300 px apart, as one column shows them.
    const box = (top: number) => ({ x: 0, y: top, top, left: 0, right: 800, bottom: top + 280, width: 800, height: 280 });
    const rect = vi.spyOn(Element.prototype, "getBoundingClientRect").mockImplementation(function (this: Element) {
      const widget = this.closest("[data-widget]")?.getAttribute("data-widget") ?? null;
      return { ...box(Math.max(order().indexOf(widget), 0) * 300), toJSON: () => ({}) } as DOMRect;
    });
    try {
      answering();
      renderAt(<Overview />);
      const handle = screen.getByRole("button", { name: "Drag Key figures" });
      handle.focus();
      await userEvent.keyboard("[Space]");
      await userEvent.keyboard("[ArrowDown]");
      await userEvent.keyboard("[Space]");
      await waitFor(() => expect(order()).toEqual(["runs-chart", "kpis", "health", "cost"]));
      expect(JSON.parse(localStorage.getItem("acc.overview.anonymous") ?? "null")).toEqual([
        "runs-chart",
        "kpis",
        "health",
        "cost",
      ]);
    } finally {
      rect.mockRestore();
    }
  });

  it("reads a stored order that names unknown widgets or misses new ones", () => {
    localStorage.setItem("acc.overview.anonymous", JSON.stringify(["cost", "gone", "cost", "health"]));
    expect(storedLayout(null)).toEqual(["cost", "health", "kpis", "runs-chart"]);
    localStorage.setItem("acc.overview.anonymous", "{not json");
    expect(storedLayout(null)).toEqual(["kpis", "runs-chart", "health", "cost"]);
    expect(keyId("acc_abc123_x_y")).toBe("abc123");
    expect(keyId("something-else")).toBe("anonymous");
  });
});
