import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";

import Alerts from "../pages/Alerts";
import { fakeApi, json, renderAt } from "./render";

const RULE = {
  id: "rule1",
  name: "failures",
  kind: "threshold",
  metric: "runs_failed",
  op: ">",
  threshold: 2,
  window_minutes: 5,
  pattern: "saga",
  agent: null,
  channel: "webhook",
  destination: "https://hooks.example/…",
  created_at: "2026-11-30T09:00:00Z",
};

function alert(id: string, status: string, extra: Record<string, unknown> = {}) {
  return {
    id,
    tenant: "default",
    rule_id: "rule1",
    rule_name: "failures",
    status,
    value: 3,
    message: `runs_failed 3 > 2 (${id})`,
    opened_at: "2026-11-30T10:00:00Z",
    last_seen_at: "2026-11-30T10:05:00Z",
    occurrences: 2,
    resolved_at: null,
    acknowledged_at: null,
    acknowledged_by: null,
    notified: "",
    ...extra,
  };
}

describe("alerts", () => {
  it("lists rules and alerts, acknowledges a firing one and sends a test alert", async () => {
    let acked = false;
    const calls = fakeApi({
      "GET /v1/alerts/rules": () => json(200, [RULE]),
      "GET /v1/alerts": (url) => {
        const all = [
          acked
            ? alert("a1", "acknowledged", { acknowledged_by: "key:ops", acknowledged_at: "2026-11-30T10:06:00Z" })
            : alert("a1", "firing"),
          alert("a0", "resolved"),
        ];
        const status = url.searchParams.get("status");
        return json(200, status ? all.filter((a) => a.status === status) : all);
      },
      "POST /v1/alerts/a1/ack": () => {
        acked = true;
        return json(200, alert("a1", "acknowledged"));
      },
      "POST /v1/alerts/rules/rule1/test": () => json(200, { outcome: "sent (HTTP 204)" }),
    });
    renderAt(<Alerts />, "/alerts");
    const rule = (await screen.findByText("runs_failed > 2 over 5 min")).closest("tr") as HTMLElement;
    expect(within(rule).getByRole("rowheader")).toHaveTextContent("failures");
    expect(rule).toHaveTextContent("https://hooks.example/…");
    const firing = (await screen.findByText("runs_failed 3 > 2 (a1)")).closest("tr") as HTMLElement;
    await userEvent.click(within(firing).getByRole("button", { name: /Acknowledge/ }));
    await waitFor(() => expect(within(firing).getByText("acknowledged")).toBeInTheDocument());
    expect(firing).toHaveTextContent("by key:ops");
    await userEvent.click(within(rule).getByRole("button", { name: /Send test alert/ }));
    expect(await screen.findByTestId("test-outcome")).toHaveTextContent("failures: sent (HTTP 204)");
    await userEvent.selectOptions(screen.getByLabelText("Status"), "resolved");
    await waitFor(() => expect(screen.queryByText("runs_failed 3 > 2 (a1)")).not.toBeInTheDocument());
    expect(calls.some((c) => new URL(c.url).searchParams.get("status") === "resolved")).toBe(true);
  });

  it("shows the API's message when it refuses to acknowledge or make a rule", async () => {
    fakeApi({
      "GET /v1/alerts/rules": () => json(200, []),
      "GET /v1/alerts": () => json(200, [alert("a1", "firing")]),
      "POST /v1/alerts/a1/ack": () =>
        json(409, { error: { type: "conflict", message: "alert a1 is resolved, not firing" } }),
      "POST /v1/alerts/rules": () =>
        json(403, { error: { type: "forbidden", message: "this needs the admin scope" } }),
    });
    renderAt(<Alerts />, "/alerts");
    await userEvent.click(await screen.findByRole("button", { name: /Acknowledge/ }));
    expect(await screen.findByText("alert a1 is resolved, not firing")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "New rule" }));
    const dialog = screen.getByRole("dialog", { name: "New alert rule" });
    await userEvent.type(within(dialog).getByLabelText("Name"), "slow");
    await userEvent.type(within(dialog).getByLabelText(/URL notifications/), "https://hooks.example/x");
    await userEvent.click(within(dialog).getByRole("button", { name: "Create" }));
    expect(await within(dialog).findByRole("alert")).toHaveTextContent("this needs the admin scope");
  });
});
