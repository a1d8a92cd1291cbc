// What the API says about how this deployment is set up: flags, the pool, the dashboard.
import { useQuery } from "@tanstack/react-query";

import { api, unwrap } from "./client";

export function useFlags() {
  return useQuery({ queryKey: ["flags"], queryFn: () => unwrap(api.GET("/v1/flags")) });
}

export function usePool() {
  return useQuery({ queryKey: ["pool"], queryFn: () => unwrap(api.GET("/v1/agents/connected")) });
}

export function useDashboardConfig() {
  return useQuery({
    queryKey: ["dashboard-config"],
    queryFn: () => unwrap(api.GET("/v1/dashboard/config")),
    staleTime: Infinity,
  });
}
