{{/*
The pod template of one process. Called with a dict:
  root        the chart's context ($)
  component   worker-orchestration | worker-agents | api | pool | aggregator
  args        the acc command, e.g. (list "worker" "--queue" "agents")
  port        the port its probes and metrics are on
  portName    that port's name (http, ws, health)
  env         extra environment (list of EnvVar)
  grace       seconds SIGTERM gets before SIGKILL
  resources   requests and limits
  preStop     seconds a preStop hook waits (0: none)
  extra       more pod spec fields (runtimeClassName...)
  seccomp     a container seccompProfile overriding the pod's
  image       another image than the chart's (a draining worker version)
*/}}
{{- define "acc.podTemplate" -}}
{{- $root := .root -}}
metadata:
  labels:
    {{- include "acc.componentLabels" (list $root .component) | nindent 4 }}
  annotations:
    {{- include "acc.podAnnotations" $root | nindent 4 }}
    kubectl.kubernetes.io/default-container: acc
spec:
  {{- include "acc.podCommon" (list $root .component) | nindent 2 }}
  terminationGracePeriodSeconds: {{ .grace }}
  {{- with .extra }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
  containers:
    - name: acc
      image: {{ .image | default (include "acc.image" $root) }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      args:
        {{- toYaml .args | nindent 8 }}
      ports:
        - name: {{ .portName }}
          containerPort: {{ .port }}
          protocol: TCP
      envFrom:
        {{- include "acc.envFrom" $root | nindent 8 }}
      env:
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        - name: POD_IP
          valueFrom:
            fieldRef:
              fieldPath: status.podIP
        {{- with .env }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      startupProbe:
        httpGet:
          path: /healthz
          port: {{ .portName }}
        periodSeconds: 2
        failureThreshold: 60
      livenessProbe:
        httpGet:
          path: /healthz
          port: {{ .portName }}
        periodSeconds: 10
        timeoutSeconds: 3
        failureThreshold: 3
      readinessProbe:
        httpGet:
          path: /readyz
          port: {{ .portName }}
        periodSeconds: 5
        timeoutSeconds: 4
        failureThreshold: 2
      {{- if .preStop }}
      lifecycle:
        preStop:
          exec:
            command: ["sleep", "{{ .preStop }}"]
      {{- end }}
      resources:
        {{- toYaml .resources | nindent 8 }}
      securityContext:
        {{- toYaml $root.Values.securityContext | nindent 8 }}
        {{- with .seccomp }}
        seccompProfile:
          {{- toYaml . | nindent 10 }}
        {{- end }}
      volumeMounts:
        {{- include "acc.volumeMounts" $root | nindent 8 }}
  volumes:
    {{- include "acc.volumes" $root | nindent 4 }}
{{- end -}}

{{/* A Deployment of one process: include "acc.deployment" (dict ... "replicas" n) */}}
{{- define "acc.deployment" -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "acc.fullname" .root }}-{{ .component }}
  labels:
    {{- include "acc.componentLabels" (list .root .component) | nindent 4 }}
spec:
  {{- if not .autoscaled }}
  replicas: {{ .replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 25%
  selector:
    matchLabels:
      {{- include "acc.selector" (list .root .component) | nindent 6 }}
  template:
    {{- include "acc.podTemplate" . | nindent 4 }}
{{- end -}}

{{/* A PodDisruptionBudget: include "acc.pdb" (list $ component pdbValues) */}}
{{- define "acc.pdb" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "acc.fullname" $root }}-{{ $component }}
  labels:
    {{- include "acc.labels" $root | nindent 4 }}
spec:
  {{- toYaml (index . 2) | nindent 2 }}
  selector:
    matchLabels:
      {{- include "acc.selector" (list $root $component) | nindent 6 }}
{{- end -}}

{{/* An HPA on CPU and memory: include "acc.hpa" (list $ component autoscalingValues kind) */}}
{{- define "acc.hpa" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- $as := index . 2 -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "acc.fullname" $root }}-{{ $component }}
  labels:
    {{- include "acc.labels" $root | nindent 4 }}
spec:
  scaleTargetRef:
    {{- if eq (index . 3) "Rollout" }}
    apiVersion: argoproj.io/v1alpha1
    kind: Rollout
    {{- else }}
    apiVersion: apps/v1
    kind: Deployment
    {{- end }}
    name: {{ include "acc.fullname" $root }}-{{ $component }}
  minReplicas: {{ $as.minReplicas }}
  maxReplicas: {{ $as.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $as.targetCPUUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ $as.targetMemoryUtilizationPercentage }}
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 300
      policies:
        - type: Percent
          value: 25
          periodSeconds: 60
{{- end -}}

{{/* An Argo Rollouts blue-green Rollout of one process (the API or the pool): the new
     version comes up behind the preview Service, the analysis reads the rollback
     triggers before and after promotion, and a failed analysis switches traffic back. */}}
{{- define "acc.rollout" -}}
{{- $fullname := include "acc.fullname" .root -}}
{{- $r := .root.Values.rollouts -}}
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: {{ $fullname }}-{{ .component }}
  labels:
    {{- include "acc.componentLabels" (list .root .component) | nindent 4 }}
spec:
  {{- if not .autoscaled }}
  replicas: {{ .replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "acc.selector" (list .root .component) | nindent 6 }}
  template:
    {{- include "acc.podTemplate" . | nindent 4 }}
  strategy:
    blueGreen:
      activeService: {{ $fullname }}-{{ .component }}
      previewService: {{ $fullname }}-{{ .component }}-preview
      autoPromotionEnabled: true
      autoPromotionSeconds: {{ $r.autoPromotionSeconds }}
      scaleDownDelaySeconds: {{ $r.scaleDownDelaySeconds }}
      prePromotionAnalysis:
        templates:
          - templateName: {{ $fullname }}-rollback-triggers
        args:
          - name: component
            value: {{ .component }}
          - name: service
            value: {{ $fullname }}-{{ .component }}-preview
      postPromotionAnalysis:
        templates:
          - templateName: {{ $fullname }}-rollback-triggers
        args:
          - name: component
            value: {{ .component }}
          - name: service
            value: {{ $fullname }}-{{ .component }}
{{- end -}}
