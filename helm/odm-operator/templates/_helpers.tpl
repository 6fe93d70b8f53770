{{/* Chart name, truncated to the 63 characters a label value may have. */}}
{{- define "odm-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, with the chart name unless the release name already contains it. */}}
{{- define "odm-operator.fullname" -}}
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

{{- define "odm-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "odm-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "odm-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "odm-operator.labels" -}}
helm.sh/chart: {{ include "odm-operator.chart" . }}
{{ include "odm-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: odm-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "odm-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "odm-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "odm-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* "true" when the replicas run kopf peering (more than one replica). */}}
{{- define "odm-operator.peering" -}}
{{- if gt (int .Values.replicaCount) 1 }}true{{ end }}
{{- end }}

{{/* "true" when the metrics endpoint is on. */}}
{{- define "odm-operator.metrics" -}}
{{- if gt (int .Values.config.metricsPort) 0 }}true{{ end }}
{{- end }}

{{/*
The rules the operator needs on ODMJobs, in one namespace or cluster-wide: exactly the calls it makes.
- odmjobs list/watch: kopf's watch stream; patch: kopf's finalizer and its progress/diff-base annotations
  (finalizers are metadata, patched on the main resource: the odmjobs/finalizers subresource is only needed to set
  blockOwnerDeletion on objects an ODMJob owns, and the operator creates none); delete: ttlSecondsAfterFinished.
- odmjobs/status patch: the operator writes status itself (merge patch on the status subresource).
- events create: phase changes and failures, posted in the job's namespace.
- kopf peering (replicaCount > 1): list/watch the peering objects, patch only the release's own.
No get, create or update is needed: the operator reads ODMJobs only from kopf's watch.
*/}}
{{- define "odm-operator.jobRules" -}}
- apiGroups: ["odm-operator.io"]
  resources: ["odmjobs"]
  verbs: ["list", "watch", "patch", "delete"]
- apiGroups: ["odm-operator.io"]
  resources: ["odmjobs/status"]
  verbs: ["patch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- if include "odm-operator.peering" .root }}
- apiGroups: ["kopf.dev"]
  resources: [{{ .peerings | quote }}]
  verbs: ["list", "watch"]
- apiGroups: ["kopf.dev"]
  resources: [{{ .peerings | quote }}]
  resourceNames: [{{ .root.Values.peering.name | quote }}]
  verbs: ["patch"]
{{- end }}
{{- end }}

{{/* The NodeODM gateway's labels: a name of its own, so the operator's selector never matches its pods. */}}
{{- define "odm-operator.gatewaySelectorLabels" -}}
app.kubernetes.io/name: {{ include "odm-operator.name" . | trunc 55 | trimSuffix "-" }}-gateway
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "odm-operator.gatewayLabels" -}}
helm.sh/chart: {{ include "odm-operator.chart" . }}
{{ include "odm-operator.gatewaySelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: gateway
app.kubernetes.io/part-of: odm-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "odm-operator.gatewayServiceAccountName" -}}
{{- if .Values.gateway.serviceAccount.create }}
{{- default (printf "%s-gateway" (include "odm-operator.fullname" .)) .Values.gateway.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.gateway.serviceAccount.name }}
{{- end }}
{{- end }}
