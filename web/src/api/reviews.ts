// Code review (/v1/reviews): the list, a review, feedback on a suggestion, the combined patch.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { api, ApiError, toApiError, unwrap, type Schemas } from "./client";

export type ReviewSummary = Schemas["ReviewSummary"];
export type Suggestion = Schemas["Suggestion"];
export type Category = Suggestion["category"];
export type Action = Schemas["FeedbackCreate"]["action"];
/** A review with the lists the API may leave out (when empty) filled in. */
export type Review = Schemas["ReviewView"] & {
  files: string[];
  suggestions: Suggestion[];
  errors: string[];
  feedback: Record<string, Action>;
};

function full(review: Schemas["ReviewView"]): Review {
  return {
    ...review,
    files: review.files ?? [],
    suggestions: review.suggestions ?? [],
    errors: review.errors ?? [],
    feedback: review.feedback ?? {},
  };
}

export const CATEGORIES: Category[] = ["security", "correctness", "performance", "style"];

const keys = {
  list: ["reviews"] as const,
  review: (id: string) => ["review", id] as const,
  rules: (team: string) => ["review-rules", team] as const,
  standards: (team: string) => ["review-standards", team] as const,
};

export function useReviews() {
  return useQuery({ queryKey: keys.list, queryFn: () => unwrap(api.GET("/v1/reviews")) });
}

export function useReview(id: string | null) {
  return useQuery({
    queryKey: keys.review(id ?? ""),
    queryFn: async () =>
      full(
        await unwrap(
          api.GET("/v1/reviews/{review_id}", { params: { path: { review_id: id ?? "" } } }),
        ),
      ),
    enabled: id !== null,
  });
}

export function useCreateReview() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (body: { root: string; diff_ref: string | null; team: string }) =>
      full(
        await unwrap(
          api.POST("/v1/reviews", {
            body: { ...body, staged: false, min_severity: "info", min_confidence: 0 },
          }),
        ),
      ),
    onSuccess: (review) => {
      client.setQueryData(keys.review(review.id), review);
      return client.invalidateQueries({ queryKey: keys.list });
    },
  });
}

export function useFeedback(reviewId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: { suggestion_id: string; action: Action; comment?: string | null }) =>
      unwrap(
        api.POST("/v1/reviews/{review_id}/feedback", {
          params: { path: { review_id: reviewId } },
          body,
        }),
      ),
    onSuccess: (_, body) => {
      client.setQueryData<Review>(keys.review(reviewId), (review) =>
        review ? { ...review, feedback: { ...review.feedback, [body.suggestion_id]: body.action } } : review,
      );
    },
  });
}

export interface CombinedPatch {
  text: string;
  leftOut: string[];
}

/** The accepted suggestions' fixes as one patch (text/x-diff), and those it left out. */
export function usePatch(reviewId: string) {
  return useMutation({
    mutationFn: async (ids: string[]): Promise<CombinedPatch> => {
      let result;
      try {
        result = await api.POST("/v1/reviews/{review_id}/patch", {
          params: { path: { review_id: reviewId } },
          body: { suggestion_ids: ids },
          parseAs: "text", // a text/x-diff answer; an error is still the API's JSON
        });
      } catch (exc) {
        throw new ApiError(0, "network", `the API did not answer: ${(exc as Error).message}`);
      }
      const { data, error, response } = result;
      if (!response.ok) throw toApiError(response.status, error);
      const leftOut = (response.headers.get("X-Acc-Left-Out") ?? "").split(",").filter(Boolean);
      return { text: typeof data === "string" ? data : "", leftOut };
    },
  });
}

export function useRuleStats(team: string) {
  return useQuery({
    queryKey: keys.rules(team),
    queryFn: () => unwrap(api.GET("/v1/reviews/rules", { params: { query: { team } } })),
  });
}

export function useStandards(team: string) {
  return useQuery({
    queryKey: keys.standards(team),
    queryFn: () =>
      unwrap(api.GET("/v1/reviews/standards/{team}", { params: { path: { team } } })),
  });
}

export function useSaveStandards(team: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: Schemas["Standards"]) =>
      unwrap(api.PUT("/v1/reviews/standards/{team}", { params: { path: { team } }, body })),
    onSuccess: (saved) => client.setQueryData(keys.standards(team), saved),
  });
}
