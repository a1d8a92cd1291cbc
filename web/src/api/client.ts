// The typed API client: paths, bodies and answers come from src/api/schema.d.ts, generated
// from the API's OpenAPI document, so a changed endpoint breaks the build, not the page.
import createClient, { type Middleware } from "openapi-fetch";

import { getKey, setKey } from "../lib/auth";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type RunSummary = Schemas["RunSummary"];
export type RunView = Schemas["RunView"];
export type RunStatus = RunSummary["status"];
export type StepState = Schemas["StepState"];
export type Timeline = Schemas["Timeline"];
export type TimelineEntry = Schemas["TimelineEntry"];
export type AgentView = Schemas["AgentView"];
export type BreakerStatus = Schemas["BreakerStatus"];
export type RoutingDecision = Schemas["RoutingDecision"];
export type RouteRequest = Schemas["RouteRequest"];

/** An API answer that is not a success, with the API's own message (`{"error": {...}}`). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly details: unknown = null,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export function toApiError(status: number, body: unknown): ApiError {
  if (body && typeof body === "object" && "error" in body) {
    const error = (body as { error: { type?: string; message?: string; details?: unknown } }).error;
    return new ApiError(status, error.type ?? "error", error.message ?? `HTTP ${status}`, error.details);
  }
  return new ApiError(status, "http_error", `the API answered HTTP ${status}`);
}

/** Listeners told when the API refuses the key (401), so the page can ask for another. */
const unauthorized = new Set<() => void>();
export function onUnauthorized(listener: () => void): () => void {
  unauthorized.add(listener);
  return () => unauthorized.delete(listener);
}

const withKey: Middleware = {
  onRequest({ request }) {
    const key = getKey();
    if (key) request.headers.set("X-API-Key", key);
    return request;
  },
  onResponse({ response }) {
    if (response.status === 401) unauthorized.forEach((listener) => listener());
    return response;
  },
};

// fetch is looked up on each call (tests replace it); paths are on this origin.
export const api = createClient<paths>({
  baseUrl: globalThis.location?.origin ?? "",
  fetch: (request) => globalThis.fetch(request),
});
api.use(withKey);

/** The data of an openapi-fetch answer, or its error thrown as an ApiError. */
export async function unwrap<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await call;
  } catch (exc) {
    throw new ApiError(0, "network", `the API did not answer: ${(exc as Error).message}`);
  }
  if (!result.response.ok) throw toApiError(result.response.status, result.error);
  return result.data as T;
}

export function forgetKey(): void {
  setKey(null);
}
