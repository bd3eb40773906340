{{- define "ddcompat.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ddcompat.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ddcompat.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ include "ddcompat.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "ddcompat.selector" -}}
app.kubernetes.io/name: {{ include "ddcompat.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "ddcompat.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "ddcompat.webhook.name" -}}{{ include "ddcompat.fullname" . }}-webhook{{- end -}}
{{- define "ddcompat.webhook.secret" -}}{{ include "ddcompat.fullname" . }}-webhook-tls{{- end -}}
{{- define "ddcompat.scanner.name" -}}{{ include "ddcompat.fullname" . }}-scanner{{- end -}}
{{- define "ddcompat.config.name" -}}{{ include "ddcompat.fullname" . }}-config{{- end -}}

{{/* Secret keys: cert-manager writes tls.crt/tls.key/ca.crt, kube-webhook-certgen cert/key/ca. */}}
{{- define "ddcompat.webhook.certKeys" -}}
{{- if .Values.webhook.certs.certManager.enabled -}}
{"cert": "tls.crt", "key": "tls.key", "ca": "ca.crt"}
{{- else -}}
{"cert": "cert", "key": "key", "ca": "ca"}
{{- end -}}
{{- end -}}

{{/* Restricted Pod Security Standard; UID 10001 is the image's USER. */}}
{{- define "ddcompat.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "ddcompat.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "ddcompat.configArgs" -}}
{{- if .Values.policy }}
- --policy=/etc/ddcompat/policy.yaml
{{- end }}
{{- if .Values.matrixExtension }}
- --matrix=/etc/ddcompat/matrix.yaml
{{- end }}
{{- end -}}

{{/* NetworkPolicy egress rules every pod of the chart gets */}}
{{- define "ddcompat.egress" }}
    # DNS, then the API server, registries and AWS APIs (networkPolicy.egressPorts)
    - ports:
        - {protocol: UDP, port: 53}
        - {protocol: TCP, port: 53}
    - ports:
        {{- range .Values.networkPolicy.egressPorts }}
        - {protocol: TCP, port: {{ . }}}
        {{- end }}
    {{- with .Values.networkPolicy.extraEgress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}
