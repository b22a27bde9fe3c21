{{- /*
The single source of the injection policy: policies/kyverno/clusterpolicy.yaml is this template rendered with the
default values (test/kyverno-policy.test.ts proves they agree). The policy itself holds no deployment values:
everything variable is read at admission from the ConfigMap, so users never edit it.
Pod annotations (prefix vpc-lattices-svcs.amazonaws.com/, the seed's spelling kept as the contract):
  agent-inject: "true"  inject;  proxy-port / admin-port / exclude-gid  per-pod overrides (numbers only:
  to_number() keeps an annotation from smuggling YAML into the patch, and a non-number fails the admission).
*/}}
{{- define "platform.kyverno.match" -}}
any:
  - resources:
      kinds:
        - Pod
      operations:
        - CREATE
      annotations:
        vpc-lattices-svcs.amazonaws.com/agent-inject: "true"
{{- end }}
{{- define "platform.kyverno.context" -}}
- name: config
  configMap:
    name: {{ .Values.kyverno.configMapName }}
    namespace: {{ .Values.kyverno.namespace }}
- name: proxyPort
  variable:
    jmesPath: to_number(request.object.metadata.annotations."vpc-lattices-svcs.amazonaws.com/proxy-port" || config.data.proxyPort)
- name: adminPort
  variable:
    jmesPath: to_number(request.object.metadata.annotations."vpc-lattices-svcs.amazonaws.com/admin-port" || config.data.adminPort)
- name: excludeGid
  variable:
    jmesPath: to_number(request.object.metadata.annotations."vpc-lattices-svcs.amazonaws.com/exclude-gid" || config.data.excludeGid)
{{- end }}
{{- define "platform.kyverno.iptablesInit" -}}
name: iptables-init
image: "{{`{{ config.data.initImage }}`}}"
imagePullPolicy: IfNotPresent
env:
  - name: PROXY_PORT
    value: "{{`{{ proxyPort }}`}}"
  - name: EXCLUDE_GID
    value: "{{`{{ excludeGid }}`}}"
  - name: LATTICE_CIDR_V4
    value: "{{`{{ config.data.latticeCidrV4 }}`}}"
  - name: LATTICE_CIDR_V6
    value: "{{`{{ config.data.latticeCidrV6 }}`}}"
  - name: ENABLE_IPV6
    value: "{{`{{ config.data.enableIpv6 }}`}}"
resources:
  requests:
    cpu: 10m
    memory: 16Mi
  limits:
    cpu: 100m
    memory: 64Mi
securityContext:
  runAsUser: 0
  runAsGroup: 0
  runAsNonRoot: false
  privileged: false
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop:
      - ALL
    add:
      - NET_ADMIN
      - NET_RAW
{{- end }}
{{- define "platform.kyverno.proxy" -}}
name: lattice-sigv4-proxy
image: "{{`{{ config.data.proxyImage }}`}}"
imagePullPolicy: IfNotPresent
restartPolicy: Always
ports:
  - name: sigv4-proxy
    containerPort: {{`{{ proxyPort }}`}}
    protocol: TCP
  - name: sigv4-admin
    containerPort: {{`{{ adminPort }}`}}
    protocol: TCP
env:
  - name: AWS_REGION
    value: "{{`{{ config.data.region }}`}}"
  - name: CA_ARN
    value: "{{`{{ config.data.caArn }}`}}"
  - name: APP_DOMAIN
    value: "{{`{{ config.data.appDomain }}`}}"
  - name: LISTEN_PORT
    value: "{{`{{ proxyPort }}`}}"
  - name: LISTEN_ADDRESS
    value: "{{`{{ config.data.listenAddress }}`}}"
  - name: ADMIN_PORT
    value: "{{`{{ adminPort }}`}}"
  - name: LOG_LEVEL
    value: "{{`{{ config.data.logLevel }}`}}"
resources:
  requests:
    cpu: "{{`{{ config.data.cpuRequest }}`}}"
    memory: "{{`{{ config.data.memoryRequest }}`}}"
  limits:
    cpu: "{{`{{ config.data.cpuLimit }}`}}"
    memory: "{{`{{ config.data.memoryLimit }}`}}"
startupProbe:
  httpGet:
    path: /readyz
    port: sigv4-admin
  periodSeconds: 1
  timeoutSeconds: 2
  failureThreshold: 60
readinessProbe:
  httpGet:
    path: /readyz
    port: sigv4-admin
  periodSeconds: 5
  timeoutSeconds: 2
  failureThreshold: 2
livenessProbe:
  httpGet:
    path: /healthz
    port: sigv4-admin
  periodSeconds: 10
  timeoutSeconds: 2
  failureThreshold: 3
securityContext:
  runAsNonRoot: true
  runAsUser: 1337
  runAsGroup: {{`{{ excludeGid }}`}}
  allowPrivilegeEscalation: false
  privileged: false
  readOnlyRootFilesystem: true
  capabilities:
    drop:
      - ALL
  seccompProfile:
    type: RuntimeDefault
{{- end }}
{{- /*
Marks the injected pod: the label the PodMonitor selects, and prometheus.io/* annotations for annotation-based
scraping. The first patch op rewrites the labels map with itself (or creates an empty one), so the second can add
a key whether or not the pod had labels; annotations the pod already set for its own metrics are kept.
*/}}
{{- define "platform.kyverno.podMetadataContext" -}}
- name: podLabels
  variable:
    jmesPath: request.object.metadata.labels || `{}`
{{- if .Values.monitoring.podAnnotations }}
- name: scrapeAnnotation
  variable:
    jmesPath: request.object.metadata.annotations."prometheus.io/scrape" || 'true'
- name: portAnnotation
  variable:
    jmesPath: request.object.metadata.annotations."prometheus.io/port" || to_string(adminPort)
- name: pathAnnotation
  variable:
    jmesPath: request.object.metadata.annotations."prometheus.io/path" || '/metrics'
{{- end }}
{{- end }}
{{- define "platform.kyverno.podMetadata" -}}
- op: add
  path: /metadata/labels
  value: {{ "{{ podLabels }}" }}
- op: add
  path: /metadata/labels/{{ include "platform.injectedLabel" . | replace "/" "~1" }}
  value: "true"
{{- if .Values.monitoring.podAnnotations }}
- op: add
  path: /metadata/annotations/prometheus.io~1scrape
  value: "{{ "{{ scrapeAnnotation }}" }}"
- op: add
  path: /metadata/annotations/prometheus.io~1port
  value: "{{ "{{ portAnnotation }}" }}"
- op: add
  path: /metadata/annotations/prometheus.io~1path
  value: "{{ "{{ pathAnnotation }}" }}"
{{- end }}
{{- end }}
