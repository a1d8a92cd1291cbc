import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router-dom";

import { App } from "../App";
import { ErrorBox } from "../components/ErrorBox";
import { ApiError } from "../api/client";
import { useShortcuts } from "../lib/shortcuts";
import { kpis } from "../pages/Overview";
import { fakeApi, json, summary } from "./render";

function renderApp(path = "/") {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[path]}>
        <App />
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

// The screens of the g-prefixed keys beyond overview, runs and agents.
const SCREENS: [string, string][] = [
  ["gp", "Performance analytics"],
  ["gc", "Code review"],
  ["gl", "Alerts"],
  ["gs", "Configuration"],
];

const HEALTH = { status: "ok", checks: { temporal: "ok", database: "ok" }, down: [], degraded: [] };

describe("the app", () => {
  it("asks for a key when the API refuses, then sends the key given", async () => {
    const calls = fakeApi({
      "GET /v1/runs": (_, request) =>
        request.headers.get("X-API-Key") === "acc_good"
          ? json(200, [summary("a-1", "completed")])
          : json(401, { error: { type: "unauthorized", message: "this needs a credential" } }),
      "GET /v1/agents": (_, request) =>
        request.headers.get("X-API-Key") === "acc_good"
          ? json(200, [])
          : json(401, { error: { type: "unauthorized", message: "this needs a credential" } }),
      "GET /readyz": () => json(200, HEALTH),
    });
    renderApp();
    expect(await screen.findByRole("heading", { name: "Sign in with an API key" })).toBeInTheDocument();
    await userEvent.type(screen.getByLabelText("API key"), "acc_good");
    await userEvent.click(screen.getByRole("button", { name: "Use this key" }));
    expect(await screen.findByRole("heading", { name: "Overview" })).toBeInTheDocument();
    expect(localStorage.getItem("acc.apiKey")).toBe("acc_good");
    await waitFor(() => expect(calls.at(-1)?.headers.get("X-API-Key")).toBe("acc_good"));
    await userEvent.click(screen.getByRole("button", { name: "Sign out" }));
    expect(localStorage.getItem("acc.apiKey")).toBeNull();
  });

  it("keeps the theme chosen, and t cycles it; ? opens the cheat sheet", async () => {
    fakeApi({ "GET /readyz": () => json(200, HEALTH), "GET /v1/runs": () => json(200, []), "GET /v1/agents": () => json(200, []) });
    renderApp();
    expect(document.documentElement.dataset.theme).toBe("dark");
    await userEvent.selectOptions(screen.getByLabelText("Theme"), "light");
    expect(document.documentElement.dataset.theme).toBe("light");
    expect(localStorage.getItem("acc.theme")).toBe("light");
    await userEvent.keyboard("t"); // ignored: the focus is in the theme's field
    expect(document.documentElement.dataset.theme).toBe("light");
    (document.activeElement as HTMLElement).blur();
    await userEvent.keyboard("t");
    expect(document.documentElement.dataset.theme).toBe("high-contrast");
    await userEvent.keyboard("?");
    expect(screen.getByRole("dialog", { name: "Keyboard shortcuts" })).toBeInTheDocument();
    await userEvent.keyboard("{Escape}");
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
  });

  it("goes to a screen with g and a letter", async () => {
    fakeApi({ "GET /readyz": () => json(200, HEALTH), "GET /v1/runs": () => json(200, []), "GET /v1/agents": () => json(200, []), "GET /v1/agents/breakers": () => json(200, []) });
    renderApp();
    await screen.findByRole("heading", { name: "Overview" });
    await userEvent.keyboard("ga");
    expect(await screen.findByRole("heading", { name: "Agents", level: 1 })).toBeInTheDocument();
    await userEvent.keyboard("gr");
    expect(await screen.findByRole("heading", { name: "Runs", level: 1 })).toBeInTheDocument();
    for (const [keys, heading] of SCREENS) {
      await userEvent.keyboard(keys);
      expect(await screen.findByRole("heading", { name: heading, level: 1 })).toBeInTheDocument();
    }
  });
});

describe("pieces", () => {
  it("a page's key does not fire as the second key of a g pair", async () => {
    const go = vi.fn();
    const accept = vi.fn();
    function Page() {
      useShortcuts({ a: accept });
      return null;
    }
    function Shell() {
      useShortcuts({ "g a": go });
      return <Page />;
    }
    render(<Shell />);
    await userEvent.keyboard("ga");
    expect(go).toHaveBeenCalledTimes(1);
    expect(accept).not.toHaveBeenCalled();
    await userEvent.keyboard("a");
    expect(accept).toHaveBeenCalledTimes(1);
  });

  it("an error shows the API's message and the fields it names", () => {
    render(
      <ErrorBox
        error={new ApiError(422, "invalid_input", "invalid request: name: too long", [
          { field: "name", message: "too long" },
        ])}
      />,
    );
    expect(screen.getByRole("alert")).toHaveTextContent("invalid request: name: too long");
    expect(screen.getByText("name")).toBeInTheDocument();
  });

  it("key figures count runs by how they stand", () => {
    const figures = kpis([
      summary("a", "completed"),
      summary("b", "failed"),
      summary("c", "completed"),
      summary("d", "waiting"),
      summary("e", "running"),
    ] as never);
    expect(figures).toMatchObject({ total: 5, active: 1, waiting: 1, completed: 2, failed: 1 });
    expect(figures.completionRate).toBeCloseTo(2 / 3);
  });
});
