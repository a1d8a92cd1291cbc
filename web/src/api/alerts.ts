// Alerts (/v1/alerts): rules, the history, acknowledging, a test notification.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { api, unwrap, type Schemas } from "./client";
import { useRefetchInterval } from "./live";

export type AlertRule = Schemas["RuleView"];
export type Alert = Schemas["Alert"];
export type RuleSpec = Schemas["RuleSpec"];
export type AlertStatus = "firing" | "acknowledged" | "resolved";

const keys = { rules: ["alert-rules"] as const, alerts: ["alerts"] as const };

export function useAlertRules() {
  return useQuery({ queryKey: keys.rules, queryFn: () => unwrap(api.GET("/v1/alerts/rules")) });
}

export function useAlerts(status: AlertStatus | null) {
  const refetchInterval = useRefetchInterval(true, 10, false);
  return useQuery({
    queryKey: [...keys.alerts, status],
    queryFn: () => unwrap(api.GET("/v1/alerts", { params: { query: { status, limit: 200 } } })),
    refetchInterval,
  });
}

export function useAcknowledge() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: string) =>
      unwrap(api.POST("/v1/alerts/{alert_id}/ack", { params: { path: { alert_id: id } } })),
    onSuccess: () => client.invalidateQueries({ queryKey: keys.alerts }),
  });
}

export function useTestAlert() {
  return useMutation({
    mutationFn: (ruleId: string) =>
      unwrap(api.POST("/v1/alerts/rules/{rule_id}/test", { params: { path: { rule_id: ruleId } } })),
  });
}

export function useCreateRule() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (spec: RuleSpec) => unwrap(api.POST("/v1/alerts/rules", { body: spec })),
    onSuccess: () => client.invalidateQueries({ queryKey: keys.rules }),
  });
}

export function useDeleteRule() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (ruleId: string) =>
      unwrap(api.DELETE("/v1/alerts/rules/{rule_id}", { params: { path: { rule_id: ruleId } } })),
    onSuccess: () => client.invalidateQueries({ queryKey: keys.rules }),
  });
}
