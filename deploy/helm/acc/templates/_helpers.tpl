{{/* Names and labels. */}}
{{- define "acc.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "acc.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "acc.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "acc.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "acc.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "acc.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ include "acc.tag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: acc
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component: include "acc.selector" (list $ "api") */}}
{{- define "acc.selector" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "acc.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "acc.tag" -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}

{{- define "acc.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "acc.tag" .) -}}
{{- end -}}

{{- define "acc.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "acc.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "acc.secretName" -}}
{{- default (printf "%s-secrets" (include "acc.fullname" .)) .Values.existingSecret -}}
{{- end -}}

{{/* The environment every process shares: ConfigMap and Secret of ACC_* settings. */}}
{{- define "acc.envFrom" -}}
- configMapRef:
    name: {{ include "acc.fullname" . }}-config
- secretRef:
    name: {{ include "acc.secretName" . }}
{{- end -}}

{{/* Volumes every pod has: a read-only root, so writable emptyDirs for /tmp, the data dir
     and HOME; the Temporal client certificate when mTLS is on. */}}
{{- define "acc.volumes" -}}
- name: tmp
  emptyDir: {}
- name: data
  emptyDir: {}
- name: home
  emptyDir: {}
- name: flags
  configMap:
    name: {{ include "acc.fullname" . }}-flags
{{- if and .Values.temporal.tls.enabled .Values.temporal.tls.existingSecret }}
- name: temporal-tls
  secret:
    secretName: {{ .Values.temporal.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- if .Values.kafka.tls.existingSecret }}
- name: kafka-tls
  secret:
    secretName: {{ .Values.kafka.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- if .Values.redis.tls.existingSecret }}
- name: redis-tls
  secret:
    secretName: {{ .Values.redis.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- if and .Values.database.tls.enabled .Values.database.tls.existingSecret }}
- name: database-tls
  secret:
    secretName: {{ .Values.database.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{- define "acc.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: /data
- name: home
  mountPath: /home/acc
- name: flags
  mountPath: /etc/acc/flags
  readOnly: true
{{- if and .Values.temporal.tls.enabled .Values.temporal.tls.existingSecret }}
- name: temporal-tls
  mountPath: /etc/acc/tls/temporal
  readOnly: true
{{- end }}
{{- if .Values.kafka.tls.existingSecret }}
- name: kafka-tls
  mountPath: /etc/acc/tls/kafka
  readOnly: true
{{- end }}
{{- if .Values.redis.tls.existingSecret }}
- name: redis-tls
  mountPath: /etc/acc/tls/redis
  readOnly: true
{{- end }}
{{- if and .Values.database.tls.enabled .Values.database.tls.existingSecret }}
- name: database-tls
  mountPath: /etc/acc/tls/database
  readOnly: true
{{- end }}
{{- end -}}

{{/* The pod-level settings shared by every component: include "acc.podCommon" (list $ component) */}}
{{- define "acc.podCommon" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
serviceAccountName: {{ include "acc.serviceAccountName" $root }}
automountServiceAccountToken: {{ $root.Values.serviceAccount.automountToken }}
enableServiceLinks: false
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if $root.Values.topologySpread }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "acc.selector" (list $root $component) | nindent 8 }}
{{- end }}
{{- end -}}

{{/* Pod annotations: a settings change rolls the pods. */}}
{{- define "acc.podAnnotations" -}}
checksum/config: {{ include (print .Template.BasePath "/config.yaml") . | sha256sum }}
{{- end -}}

{{/* The labels of one component's objects: include "acc.componentLabels" (list $ "api") */}}
{{- define "acc.componentLabels" -}}
{{ include "acc.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}
