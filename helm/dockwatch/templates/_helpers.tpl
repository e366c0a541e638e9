{{/* Chart name, truncated to the 63 characters Kubernetes names allow. */}}
{{- define "dockwatch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Resource name prefix: <release>-<chart>, or the release name when it already contains the chart name. */}}
{{- define "dockwatch.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "dockwatch.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "dockwatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of one component: call with (dict "ctx" . "component" "server"). */}}
{{- define "dockwatch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dockwatch.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "dockwatch.secretName" -}}
{{- default (printf "%s-secrets" (include "dockwatch.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{- define "dockwatch.influxdbUrl" -}}
{{- if .Values.influxdb.enabled }}
{{- printf "http://%s-influxdb:8086" (include "dockwatch.fullname" .) }}
{{- else }}
{{- required "influxdb.external.url is required when influxdb.enabled is false" .Values.influxdb.external.url }}
{{- end }}
{{- end }}

{{- define "dockwatch.redisUrl" -}}
{{- if .Values.redis.enabled }}
{{- printf "redis://%s-redis:6379" (include "dockwatch.fullname" .) }}
{{- else }}
{{- required "redis.external.url is required when redis.enabled is false" .Values.redis.external.url }}
{{- end }}
{{- end }}

{{- define "dockwatch.publicUrl" -}}
{{- if .Values.server.publicUrl }}
{{- .Values.server.publicUrl }}
{{- else if .Values.ingress.enabled }}
{{- printf "%s://%s" (ternary "https" "http" .Values.ingress.tls.enabled) .Values.ingress.host }}
{{- end }}
{{- end }}

{{/* One secret env var: (dict "ctx" . "env" "JWT_SECRET" "key" "jwt-secret") */}}
{{- define "dockwatch.secretEnv" -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ include "dockwatch.secretName" .ctx }}
      key: {{ .key }}
{{- end }}
