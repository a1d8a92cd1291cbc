import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";

import { sideBySide } from "../components/SideBySideDiff";
import Reviews, { confidenceLevel } from "../pages/Reviews";
import { fakeApi, json, renderAt } from "./render";

const PATCH = [
  "--- a/app.py",
  "+++ b/app.py",
  "@@ -4,2 +4,2 @@",
  " def load(t):",
  "-    return yaml.load(t)",
  "+    return yaml.safe_load(t)",
  "",
  " ",
  "",
].join("\n");

function suggestion(id: string, category: string, confidence: number, patch: string | null) {
  return {
    id,
    rule_id: `python.${category}.${id}`,
    category,
    severity: category === "security" ? "error" : "info",
    confidence,
    path: "app.py",
    line: 5,
    end_line: 5,
    message: `finding ${id}`,
    explanation: `why ${id}`,
    alternatives: [],
    cwe: null,
    snippet: "yaml.load(t)",
    replacement: patch ? "yaml.safe_load(t)" : null,
    patch,
  };
}

const REVIEW = {
  id: "r1",
  team: "web",
  root: "/srv/repo",
  files: ["app.py"],
  suggestions: [suggestion("unsafe", "security", 0.9, PATCH), suggestion("naming", "style", 0.3, null)],
  feedback: {},
};

const LIST = [
  {
    id: "r1",
    team: "web",
    root: "/srv/repo",
    created_at: "2026-11-30T10:00:00Z",
    diff_ref: "main",
    files: 1,
    suggestions: 2,
    by_category: { security: 1, style: 1 },
  },
];

describe("code review", () => {
  it("lists reviews with their findings by category, and starts one", async () => {
    const calls = fakeApi({
      "GET /v1/reviews": () => json(200, LIST),
      "POST /v1/reviews": () =>
        json(422, {
          error: {
            type: "invalid_input",
            message: "/etc is outside the allowed review roots (ACC_REVIEW_ROOTS)",
            details: [{ field: "root", message: "outside the allowed review roots" }],
          },
        }),
    });
    renderAt(<Reviews />, "/reviews", "/reviews");
    const row = (await screen.findByRole("link", { name: "/srv/repo" })).closest("tr") as HTMLElement;
    expect(row).toHaveTextContent("security 1, style 1");
    expect(row).toHaveTextContent("since main");
    expect(screen.getByRole("link", { name: "/srv/repo" })).toHaveAttribute("href", "/reviews/r1");
    await userEvent.click(screen.getByText("Review a folder"));
    await userEvent.type(screen.getByLabelText(/Folder on the API's machine/), "/etc");
    await userEvent.click(screen.getByRole("button", { name: "Review" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("outside the allowed review roots");
    const sent = calls.find((c) => c.method === "POST");
    expect(await sent?.clone().json()).toMatchObject({ root: "/etc", team: "default", diff_ref: null });
  });

  it("shows findings beside their fix, filters categories, takes feedback and combines the accepted", async () => {
    let review = structuredClone(REVIEW) as typeof REVIEW & { feedback: Record<string, string> };
    const calls = fakeApi({
      "GET /v1/reviews/r1": () => json(200, review),
      "POST /v1/reviews/r1/feedback": async (_, request) => {
        const body = (await request.clone().json()) as { suggestion_id: string; action: string };
        review = { ...review, feedback: { ...review.feedback, [body.suggestion_id]: body.action } };
        return json(201, { rule_id: "python.security.unsafe", action: body.action, confidence: 0.93 });
      },
      "POST /v1/reviews/r1/patch": () =>
        new Response(PATCH, { status: 200, headers: { "Content-Type": "text/x-diff", "X-Acc-Left-Out": "" } }),
    });
    URL.createObjectURL = vi.fn(() => "blob:patch");
    URL.revokeObjectURL = vi.fn();
    renderAt(<Reviews />, "/reviews/r1", "/reviews/:id");
    const fix = await screen.findByRole("table", { name: "Fix for app.py line 5" });
    expect(within(fix).getByText("return yaml.load(t)", { exact: false }).closest("td")).toHaveClass("diff-del");
    expect(within(fix).getByText("return yaml.safe_load(t)", { exact: false }).closest("td")).toHaveClass("diff-add");
    expect(screen.getByText(/90% \(high\)/)).toBeInTheDocument();
    expect(screen.getByText(/30% \(low\)/)).toBeInTheDocument();

    await userEvent.click(screen.getByRole("checkbox", { name: /style/ }));
    expect(screen.queryByText("finding naming")).not.toBeInTheDocument();
    expect(screen.getByText("1 of 2 findings shown.", { exact: false })).toBeInTheDocument();

    const apply = screen.getByRole("button", { name: /Apply 0 accepted/ });
    expect(apply).toBeDisabled();
    const card = screen.getByRole("article", { name: /finding unsafe/ });
    await userEvent.click(within(card).getByRole("button", { name: "Reject" }));
    expect(await within(card).findByTestId("decision")).toHaveTextContent("rejected");
    (document.activeElement as HTMLElement).blur();
    await userEvent.keyboard("a"); // accept the selected finding
    await waitFor(() => expect(within(card).getByTestId("decision")).toHaveTextContent("accepted"));
    const feedback = calls.filter((c) => c.url.endsWith("/feedback"));
    expect(await feedback.at(-1)?.clone().json()).toMatchObject({ suggestion_id: "unsafe", action: "accept" });

    await userEvent.click(screen.getByRole("button", { name: /Apply 1 accepted as one patch/ }));
    expect(await screen.findByTestId("combined-patch")).toHaveTextContent("yaml.safe_load(t)");
    expect(screen.getByRole("link", { name: "Download the patch" })).toHaveAttribute("download", "review-r1.patch");
    const patchCall = calls.find((c) => c.url.endsWith("/patch"));
    expect(await patchCall?.clone().json()).toEqual({ suggestion_ids: ["unsafe"] });
  });

  it("shows the API's message when it refuses the patch", async () => {
    fakeApi({
      "GET /v1/reviews/r1": () => json(200, { ...REVIEW, feedback: { unsafe: "accept" } }),
      "POST /v1/reviews/r1/patch": () =>
        json(404, { error: { type: "not_found", message: "no such suggestions: ['unsafe']" } }),
    });
    renderAt(<Reviews />, "/reviews/r1", "/reviews/:id");
    await userEvent.click(await screen.findByRole("button", { name: /Apply 1 accepted as one patch/ }));
    expect(await screen.findByRole("alert")).toHaveTextContent("no such suggestions: ['unsafe']");
    expect(screen.queryByTestId("combined-patch")).not.toBeInTheDocument();
  });

  it("shows the API's message for a review it does not have", async () => {
    fakeApi({
      "GET /v1/reviews/gone": () => json(404, { error: { type: "not_found", message: "review gone not found" } }),
    });
    renderAt(<Reviews />, "/reviews/gone", "/reviews/:id");
    expect(await screen.findByRole("alert")).toHaveTextContent("review gone not found");
  });

  it("pairs removed and added lines; names confidence", () => {
    expect(sideBySide(PATCH)).toEqual([
      { left: "@@ -4,2 +4,2 @@", right: "@@ -4,2 +4,2 @@", kind: "hunk" },
      { left: "def load(t):", right: "def load(t):", kind: "context" },
      { left: "    return yaml.load(t)", right: "    return yaml.safe_load(t)", kind: "change" },
      { left: "", right: "", kind: "context" },
      { left: "", right: "", kind: "context" },
    ]);
    expect([confidenceLevel(0.8), confidenceLevel(0.5), confidenceLevel(0.2)]).toEqual(["high", "medium", "low"]);
  });
});
