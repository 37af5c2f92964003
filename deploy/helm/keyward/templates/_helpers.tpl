{{- define "keyward.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "keyward.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- define "keyward.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "keyward.env" -}}
- name: KEYWARD_CONFIG
  value: /etc/keyward/keyward.toml
- name: KEYWARD_LISTEN
  value: 0.0.0.0:8080
- name: KEYWARD_PUBLIC_URL
  value: {{ .Values.publicUrl | quote }}
- name: KEYWARD_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.existingSecret }}
      key: {{ .Values.database.key }}
- name: KEYWARD_DATABASE__MAX_CONNECTIONS
  value: {{ .Values.database.maxConnections | quote }}
- name: KEYWARD_KEYS__KEY_ENV
  value: KW_KEYRING_JSON
# Not KEYWARD_*: those are configuration keys.
- name: KW_KEYRING_JSON
  valueFrom:
    secretKeyRef:
      name: {{ .Values.keys.existingSecret }}
      key: {{ .Values.keys.key }}
- name: KEYWARD_AUDIT__WITNESS_FILE
  value: /var/lib/keyward/witness.json
{{- if .Values.metrics.enabled }}
- name: KEYWARD_METRICS_LISTEN
  value: "0.0.0.0:{{ .Values.metrics.port }}"
{{- end }}
{{- end -}}

{{- define "keyward.securityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
