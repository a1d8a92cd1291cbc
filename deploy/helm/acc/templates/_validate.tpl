{{/* Checks values.schema.json cannot express (it compares no two values). */}}
{{- define "acc.validate" -}}
{{- range $name, $as := dict "api" .Values.api.autoscaling "pool" .Values.pool.autoscaling }}
{{- if and $as.enabled (gt (int $as.minReplicas) (int $as.maxReplicas)) }}
{{- fail (printf "%s.autoscaling: minReplicas (%v) is above maxReplicas (%v)" $name $as.minReplicas $as.maxReplicas) }}
{{- end }}
{{- end }}
{{- range $queue := list "orchestration" "agents" }}
{{- $k := (index $.Values.workers $queue).keda }}
{{- if and $k.enabled (gt (int $k.minReplicas) (int $k.maxReplicas)) }}
{{- fail (printf "workers.%s.keda: minReplicas (%v) is above maxReplicas (%v)" $queue $k.minReplicas $k.maxReplicas) }}
{{- end }}
{{- end }}
{{- if and .Values.ingress.enabled .Values.ingress.tls.enabled (not .Values.ingress.tls.secretName) }}
{{- fail "ingress.tls.secretName: name the Secret that holds (or cert-manager writes) the certificate" }}
{{- end }}
{{- end -}}
