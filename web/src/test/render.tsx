import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render } from "@testing-library/react";
import type { ReactElement } from "react";
import { MemoryRouter, Route, Routes } from "react-router-dom";

import { LiveProvider } from "../api/live";

/** Render `element` at `path` (matched by `route`) with a fresh query cache and no polling. */
export function renderAt(element: ReactElement, path = "/", route = "*") {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <LiveProvider mode={{ kind: "push" }}>
        <MemoryRouter initialEntries={[path]}>
          <Routes>
            <Route path={route} element={element} />
          </Routes>
        </MemoryRouter>
      </LiveProvider>
    </QueryClientProvider>,
  );
}

type Handler = (url: URL, init: Request) => Response | Promise<Response>;

/** Answer the client's fetches from `routes` ("GET /v1/runs" -> handler); record them. */
export function fakeApi(routes: Record<string, Handler>) {
  const calls: Request[] = [];
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = input instanceof Request ? input : new Request(new URL(String(input), "http://x"), init);
    calls.push(request);
    const url = new URL(request.url, "http://x");
    const handler = routes[`${request.method} ${url.pathname}`];
    if (!handler) return json(404, { error: { type: "not_found", message: `no ${url.pathname}` } });
    return handler(url, request);
  });
  vi.stubGlobal("fetch", fetchMock);
  return calls;
}

export function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

export function summary(id: string, status: string, extra: Record<string, unknown> = {}) {
  return {
    id,
    name: id.split("-")[0],
    pattern: "pipeline",
    tenant: "default",
    status,
    started_at: new Date(Date.now() - 60_000).toISOString(),
    closed_at: status === "running" ? null : new Date().toISOString(),
    links: {
      self: `/v1/runs/${id}`,
      timeline: "",
      temporal_ui: `http://ui/namespaces/default/workflows/${id}`,
      dashboard: `/runs/${id}`,
    },
    ...extra,
  };
}
