import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";

import Configuration from "../pages/Configuration";
import { fakeApi, json, renderAt } from "./render";

const AGENT = {
  name: "careful-reviewer",
  backend: "llm",
  capabilities: { review: 0.9 },
  capacity: 2,
  in_flight: 0,
  tags: ["slow"],
  enabled: true,
  breaker: "closed",
};

const RULE = {
  rule_id: "python.security.weak-hash",
  category: "security",
  prior: 0.5,
  confidence: 0.333,
  accepted: 0,
  rejected: 5,
  modified: 0,
  acceptance_rate: 0,
};

function routes(saveAnswer: () => Response) {
  return {
    "GET /v1/agents": () => json(200, [AGENT]),
    "GET /v1/agents/connected": () => json(200, { nodes: ["node-a"], agents: [] }),
    "GET /v1/dashboard/config": () => json(200, { pool_urls: ["ws://127.0.0.1:8765"], temporal_ui: "http://ui" }),
    "GET /v1/flags": () =>
      json(200, {
        tenant: "default",
        source: "/etc/acc/flags.yaml",
        error: null,
        flags: [{ name: "new-router", enabled: true, variant: "on", reason: "TARGETING_MATCH", rollout: 0.25 }],
      }),
    "GET /v1/reviews/standards/default": () => json(200, { disabled: [], min_severity: "info" }),
    "GET /v1/reviews/rules": () => json(200, [RULE]),
    "PUT /v1/reviews/standards/default": saveAnswer,
  };
}

describe("configuration", () => {
  it("shows the agents file, pool and flags read only, and saves review standards", async () => {
    const calls = fakeApi(routes(() => json(200, { disabled: ["python.security.weak-*"], min_severity: "info" })));
    renderAt(<Configuration />, "/configuration");
    const agents = screen.getByRole("region", { name: "Agents file" });
    expect(await within(agents).findByRole("rowheader", { name: "careful-reviewer" })).toBeInTheDocument();
    expect(agents).toHaveTextContent("review 90%");
    expect(agents).toHaveTextContent("Read only: the API has no endpoint to change this");
    expect(screen.getByRole("region", { name: "Routing rules" })).toHaveTextContent("Read only");
    const pool = screen.getByRole("region", { name: "Pool" });
    expect(await within(pool).findByText("ws://127.0.0.1:8765")).toBeInTheDocument();
    expect(within(pool).getByText("node-a")).toBeInTheDocument();
    const flags = screen.getByRole("region", { name: "Feature flags" });
    expect(await within(flags).findByText("new-router")).toBeInTheDocument();
    expect(flags).toHaveTextContent("25%");
    await userEvent.click(await screen.findByText("Rules and their confidence for default (1)"));
    expect(screen.getByRole("rowheader", { name: "python.security.weak-hash" })).toBeVisible();

    const editor = await screen.findByLabelText("Standards of default (JSON)");
    await waitFor(() => expect((editor as HTMLTextAreaElement).value).toContain('"min_severity": "info"'));
    await userEvent.clear(editor);
    await userEvent.type(editor, "{{ nope");
    await userEvent.click(screen.getByRole("button", { name: "Save" }));
    expect(screen.getByRole("alert")).toHaveTextContent("Not valid JSON");
    await userEvent.clear(editor);
    await userEvent.paste('{"disabled": ["python.security.weak-*"]}');
    await userEvent.click(screen.getByRole("button", { name: "Save" }));
    expect(await screen.findByRole("status")).toHaveTextContent("Saved.");
    const put = calls.find((c) => c.method === "PUT");
    expect(await put?.clone().json()).toEqual({ disabled: ["python.security.weak-*"] });
  });

  it("shows the API's message when it refuses the standards", async () => {
    fakeApi(
      routes(() =>
        json(403, { error: { type: "forbidden", message: "this needs a credential with the admin scope" } }),
      ),
    );
    renderAt(<Configuration />, "/configuration");
    const editor = await screen.findByLabelText("Standards of default (JSON)");
    await waitFor(() => expect((editor as HTMLTextAreaElement).value).not.toBe(""));
    await userEvent.click(screen.getByRole("button", { name: "Save" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("this needs a credential with the admin scope");
  });
});
