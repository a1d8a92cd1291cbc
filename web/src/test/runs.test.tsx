import { fireEvent, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";

import { followed } from "../api/live";
import Runs, { runSearch, StartRun } from "../pages/Runs";
import { fakeApi, json, renderAt, summary } from "./render";

const RUNS = [
  summary("alpha-000000000001", "completed"),
  summary("beta-000000000002", "failed"),
  summary("gamma-000000000003", "running"),
];

/** jsdom lays nothing out: give the list's scroller a height and each row one, so the
 * virtualized list draws what a 600 px window shows. */
const LAYOUT = { clientHeight: 600, clientWidth: 800, offsetHeight: 53, offsetWidth: 800, scrollHeight: 1e6 };
const saved = new Map<string, PropertyDescriptor | undefined>();
const scrollTo = Element.prototype.scrollTo;
beforeAll(() => {
  // ...and scroll it as a browser would (jsdom's scrollTo does nothing).
  Element.prototype.scrollTo = function (this: Element, to?: ScrollToOptions | number) {
    if (typeof to === "object" && to.top !== undefined) {
      this.scrollTop = to.top;
      this.dispatchEvent(new Event("scroll"));
    }
  } as typeof Element.prototype.scrollTo;
  for (const [name, value] of Object.entries(LAYOUT)) {
    saved.set(name, Object.getOwnPropertyDescriptor(HTMLElement.prototype, name));
    Object.defineProperty(HTMLElement.prototype, name, { configurable: true, get: () => value });
  }
});
afterAll(() => {
  Element.prototype.scrollTo = scrollTo;
  for (const [name, descriptor] of saved) {
    if (descriptor) Object.defineProperty(HTMLElement.prototype, name, descriptor);
    else delete (HTMLElement.prototype as unknown as Record<string, unknown>)[name];
  }
});

/** An API with `total` runs, newest first, `limit` a page, searched by `q` like the real one. */
function pagedApi(total: number) {
  const all = Array.from({ length: total }, (_, i) =>
    summary(`run-${String(i).padStart(12, "0")}`, "completed", { name: `run-${String(i).padStart(12, "0")}` }),
  );
  return fakeApi({
    "GET /v1/runs": (url) => {
      const q = (url.searchParams.get("q") ?? "").toLowerCase();
      const matching = all.filter((r) => r.id.toLowerCase().includes(q));
      const start = Number(url.searchParams.get("cursor") ?? 0);
      const limit = Number(url.searchParams.get("limit"));
      const page = matching.slice(start, start + limit);
      const next = start + limit < matching.length ? String(start + limit) : null;
      const response = json(200, page);
      if (next) response.headers.set("X-Acc-Next-Cursor", next);
      return response;
    },
  });
}

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

  it("searches on the server, and / focuses the search, j and k move between rows", async () => {
    const calls = fakeApi({
      "GET /v1/runs": (url) => {
        const q = url.searchParams.get("q") ?? "";
        return json(200, RUNS.filter((r) => r.id.includes(q)));
      },
    });
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
    expect(await screen.findByText("1 run")).toBeInTheDocument();
    expect(screen.queryByRole("link", { name: "alpha" })).not.toBeInTheDocument();
    // Typing is settled before the API is asked: not once per key.
    const asked = calls.map((c) => new URL(c.url).searchParams.get("q"));
    expect(asked).toContain("gam");
    expect(asked).not.toContain("g");
  });

  it("draws only the rows in view of thousands, and reads the next page at the end", async () => {
    const calls = pagedApi(2500);
    renderAt(<Runs />, "/runs");
    expect(await screen.findByText("100 runs, more as you scroll")).toBeInTheDocument();
    const drawn = screen.getAllByRole("link").length;
    expect(drawn).toBeGreaterThan(5);
    expect(drawn).toBeLessThan(40);
    const scroller = screen.getByTestId("runs-scroll");
    for (let loaded = 100; loaded < 400; loaded += 100) {
      scroller.scrollTop = loaded * 53;
      fireEvent.scroll(scroller);
      expect(await screen.findByText(`${loaded + 100} runs, more as you scroll`)).toBeInTheDocument();
    }
    const cursors = calls.map((c) => new URL(c.url).searchParams.get("cursor"));
    expect(cursors).toEqual([null, "100", "200", "300"]);
    // The rows near the end are drawn, the first ones are not.
    expect(screen.getByRole("link", { name: "run-000000000301" })).toBeInTheDocument();
    expect(screen.queryByRole("link", { name: "run-000000000001" })).not.toBeInTheDocument();
    expect(screen.getAllByRole("link").length).toBeLessThan(40);
    // Four pages loaded: the list is no longer read again by itself (that would read every
    // page), and offers to read it again from the top.
    expect(followed({ state: { data: { pages: [1, 2, 3, 4] } } })).toBe(false);
    expect(followed({ state: { data: { pages: [1, 2, 3] } } })).toBe(true);
    await userEvent.click(screen.getByRole("button", { name: "Read again from the top" }));
    expect(await screen.findByText("100 runs, more as you scroll")).toBeInTheDocument();
    expect(calls.map((c) => new URL(c.url).searchParams.get("cursor")).at(-1)).toBeNull();
    expect(screen.queryByTestId("held")).not.toBeInTheDocument();
  });

  it("keeps j and k going past the rows drawn", async () => {
    pagedApi(300);
    renderAt(<Runs />, "/runs");
    await screen.findByText("100 runs, more as you scroll");
    for (let i = 0; i < 30; i++) await userEvent.keyboard("j");
    await waitFor(() =>
      expect(screen.getByRole("link", { name: "run-000000000030" })).toHaveFocus(),
    );
  });

  it("shows the API's message when the list fails", async () => {
    fakeApi({
      "GET /v1/runs": () =>
        json(503, { error: { type: "service_unavailable", message: "Temporal is unreachable at x" } }),
    });
    renderAt(<Runs />, "/runs");
    expect(await screen.findByRole("alert")).toHaveTextContent("Temporal is unreachable at x");
  });

  it("asks the API for the time window, the drill-down's span and the search", () => {
    const now = Date.parse("2026-01-02T00:00:30Z");
    const at = (query: string, search = "") => runSearch(new URLSearchParams(query), search, now);
    expect(at("since=1h&status=failed&pattern=saga", " deploy ")).toEqual({
      status: "failed",
      pattern: "saga",
      q: "deploy",
      since: "2026-01-01T23:00:00.000Z",
      until: undefined,
    });
    expect(at("")).toEqual({
      status: undefined,
      pattern: undefined,
      q: undefined,
      since: undefined,
      until: undefined,
    });
    const span = at("from=2026-01-01T10:00:00Z&to=2026-01-01T11:00:00Z");
    expect([span.since, span.until]).toEqual(["2026-01-01T10:00:00.000Z", "2026-01-01T11:00:00.000Z"]);
    // Both: the later start wins.
    expect(at("since=1h&from=2026-01-01T10:00:00Z&to=2026-01-02T00:00:00Z").since).toBe(
      "2026-01-01T23:00:00.000Z",
    );
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
