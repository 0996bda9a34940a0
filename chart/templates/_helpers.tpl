{{/*
The release's name prefix: "streamspace" for a release named streamspace
(the names deploy/ uses), else <release>-streamspace.
*/}}
{{- define "streamspace.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "streamspace.agent" -}}{{ include "streamspace.fullname" . }}-agent{{- end -}}
{{- define "streamspace.portal" -}}{{ include "streamspace.fullname" . }}-portal{{- end -}}
{{- define "streamspace.webhookService" -}}{{ include "streamspace.fullname" . }}-agent-webhook{{- end -}}
{{- define "streamspace.webhookSecret" -}}{{ include "streamspace.fullname" . }}-agent-webhook-tls{{- end -}}

{{/*
Selector labels. app.kubernetes.io/name stays streamspace-agent /
streamspace-portal whatever the release is called: the session network
policies in policies/network admit the stream proxy by
app.kubernetes.io/name=streamspace-portal.
*/}}
{{- define "streamspace.selector" -}}
app.kubernetes.io/name: streamspace-{{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{- define "streamspace.labels" -}}
{{ include "streamspace.selector" . }}
app.kubernetes.io/part-of: streamspace
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "streamspace.commonLabels" -}}
app.kubernetes.io/part-of: streamspace
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "streamspace.image" -}}
{{ .image.repository }}:{{ .image.tag | default .root.Chart.AppVersion }}
{{- end -}}

{{/*
The portal keeps nothing on local disk when its store is PostgreSQL and its
token signing key comes from the Secret: then (only then) it may run
several replicas and roll without downtime.
*/}}
{{- define "streamspace.portal.shared" -}}
{{- if .Values.portal.database.external -}}true{{- end -}}
{{- end -}}

{{/*
streamspace.generatedRules reads a role that controller-gen generated (copied
into generated/ by `make generate-chart`) and returns its rules: RBAC is never
typed twice. A generated file may hold several documents (the agent's has a
ClusterRole for its cluster-scoped rules and a Role for its namespaced ones):
"kind" picks one, ClusterRole when not given.
*/}}
{{- define "streamspace.generatedRules" -}}
{{- $kind := .kind | default "ClusterRole" -}}
{{- $rules := "" -}}
{{- range $text := splitList "\n---\n" (printf "\n%s" (.root.Files.Get .path)) -}}
{{- $doc := fromYaml $text -}}
{{- if and $doc (not $doc.Error) (eq (get $doc "kind") $kind) $doc.rules -}}
{{- $rules = toYaml $doc.rules -}}
{{- end -}}
{{- end -}}
{{- if not $rules -}}
{{- fail (printf "chart file %s is missing or has no %s with rules: run `make generate-chart`" .path $kind) -}}
{{- end -}}
{{- $rules -}}
{{- end -}}
