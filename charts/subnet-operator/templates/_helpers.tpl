{{/*
The chart name (app.kubernetes.io/name), at most 63 characters.
*/}}
{{- define "subnet-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object name: the release name, plus the chart name unless the release name
already contains it; at most 63 characters.
*/}}
{{- define "subnet-operator.fullname" -}}
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

{{/*
helm.sh/chart: name-version.
*/}}
{{- define "subnet-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object.
*/}}
{{- define "subnet-operator.labels" -}}
helm.sh/chart: {{ include "subnet-operator.chart" . }}
{{ include "subnet-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Labels that select the operator pods (immutable in the Deployment selector).
*/}}
{{- define "subnet-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "subnet-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The ServiceAccount the operator runs as.
*/}}
{{- define "subnet-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "subnet-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image reference.
*/}}
{{- define "subnet-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
The leader election Lease name (for the default release name "subnet-operator" this is the
operator's own default, subnet-operator-leader).
*/}}
{{- define "subnet-operator.leaseName" -}}
{{- printf "%s-leader" (include "subnet-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The watched namespaces as WATCH_NAMESPACE takes them (comma-separated), or "" for all.
*/}}
{{- define "subnet-operator.watchNamespace" -}}
{{- join "," (.Values.watchNamespaces | default list) }}
{{- end }}

{{/*
Checks values that the schema cannot express.
*/}}
{{- define "subnet-operator.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 needs leaderElection.enabled=true: without a Lease every replica would write to Kubernetes and the chain" }}
{{- end }}
{{- $_ := include "subnet-operator.watchNamespace" . }}
{{- end }}
