{{/* Names, labels and the values several templates derive. Every helper a template includes is here. */}}

{{- define "itb-serve.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: "<release>-itb-serve", or the release name when it already holds the chart's. */}}
{{- define "itb-serve.fullname" -}}
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

{{- define "itb-serve.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "itb-serve.selectorLabels" -}}
app.kubernetes.io/name: {{ include "itb-serve.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "itb-serve.labels" -}}
helm.sh/chart: {{ include "itb-serve.chart" . }}
{{ include "itb-serve.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: serve
{{- end }}

{{- define "itb-serve.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "itb-serve.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name: the ServiceAccount to use when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository:tag, or repository@digest when a digest is set. */}}
{{- define "itb-serve.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "itb-serve.configMapName" -}}
{{- default (include "itb-serve.fullname" .) .Values.config.existingConfigMap }}
{{- end }}

{{- define "itb-serve.claimName" -}}
{{- default (printf "%s-data" (include "itb-serve.fullname" .)) .Values.persistence.existingClaim }}
{{- end }}

{{/* The Secret the Key Vault objects are synced into. */}}
{{- define "itb-serve.keyVaultSecretName" -}}
{{- printf "%s-keyvault" (include "itb-serve.fullname" .) }}
{{- end }}

{{/* The --data-root argument: the claim's mount point, or the Blob URL (checked). */}}
{{- define "itb-serve.dataRoot" -}}
{{- if eq .Values.dataRoot.type "pvc" }}
{{- print "/var/lib/itb" }}
{{- else if eq .Values.dataRoot.type "blob" }}
{{- $url := required "dataRoot.blobUrl: an abfs://<container>/<path> URL when dataRoot.type is blob" .Values.dataRoot.blobUrl }}
{{- if not (regexMatch "^(abfs|abfss|az)://[^/]+" $url) }}
{{- fail (printf "dataRoot.blobUrl: %q is not an abfs://<container>/<path> URL" $url) }}
{{- end }}
{{- $url }}
{{- else }}
{{- fail (printf "dataRoot.type: %q is neither pvc nor blob" .Values.dataRoot.type) }}
{{- end }}
{{- end }}
