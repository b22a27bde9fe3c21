{{/* Labels every object of this release carries. */}}
{{- define "platform.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The label the Kyverno policy puts on every pod it injects; the PodMonitor selects pods by it. */}}
{{- define "platform.injectedLabel" -}}
vpc-lattices-svcs.amazonaws.com/agent-injected
{{- end -}}
