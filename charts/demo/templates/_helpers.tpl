{{/* demo-<cluster>-v1: the Deployment, Service and ServiceAccount name. */}}
{{- define "demo.app" -}}
demo-{{ .Values.cluster }}-v1
{{- end -}}

{{/* demo-<cluster>: the HTTPRoute name and the first label of the host. */}}
{{- define "demo.route" -}}
demo-{{ .Values.cluster }}
{{- end -}}

{{- define "demo.labels" -}}
app.kubernetes.io/name: demo
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "demo.selector" -}}
app: {{ include "demo.app" . }}
{{- end -}}

{{/* demo-<cluster>-grpc: the optional gRPC service's Deployment, Service, GRPCRoute and the first label of its host. */}}
{{- define "demo.grpc" -}}
demo-{{ .Values.cluster }}-grpc
{{- end -}}

{{- define "demo.grpcSelector" -}}
app: {{ include "demo.grpc" . }}
{{- end -}}
