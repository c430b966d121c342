{{/*
Names and labels, as `helm create` makes them.
*/}}
{{- define "producer-profile.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name, at most 63 characters (a DNS label). A release whose name
already contains the chart name is used as it is.
*/}}
{{- define "producer-profile.fullname" -}}
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

{{/* Name of the webhook dispatcher's objects. */}}
{{- define "producer-profile.dispatcherName" -}}
{{- printf "%s-webhook-dispatcher" (include "producer-profile.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "producer-profile.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object. Call with (dict "ctx" $ "component" "api"); objects shared by
the components (ConfigMap, ServiceAccount, ServiceMonitor) pass no component.
*/}}
{{- define "producer-profile.labels" -}}
helm.sh/chart: {{ include "producer-profile.chart" .ctx }}
{{ include "producer-profile.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: producer-profile
{{- end }}

{{/* Selector labels: name, instance and (when given) component. Same argument as labels. */}}
{{- define "producer-profile.selectorLabels" -}}
app.kubernetes.io/name: {{ include "producer-profile.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{- define "producer-profile.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "producer-profile.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository:tag, plus @digest when one is given (the digest is what gets pulled). */}}
{{- define "producer-profile.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
Fixed container ports. The binaries listen where the ConfigMap tells them
(listen_addr, metrics.*_addr), so these are not values: changing one here is enough.
*/}}
{{- define "producer-profile.grpcPort" -}}50051{{- end }}
{{- define "producer-profile.metricsPort" -}}9090{{- end }}

{{/* Where things are mounted in the containers. */}}
{{- define "producer-profile.configDir" -}}/etc/producer-profile/config{{- end }}
{{- define "producer-profile.configFile" -}}producer-profile.toml{{- end }}
{{- define "producer-profile.jwksDir" -}}/etc/producer-profile/jwks{{- end }}
{{- define "producer-profile.kafkaCaDir" -}}/etc/producer-profile/kafka-ca{{- end }}
{{- define "producer-profile.postgresCaDir" -}}/etc/producer-profile/postgres-ca{{- end }}

{{/*
The Postgres CA (postgresCa), for every container that connects to the database:
mounted, and named by PGSSLROOTCERT, which libpq reads, so a URL with
sslmode=verify-full needs no sslrootcert of its own. Call with the root context;
volume (true) or mount (false) or env via "part".
*/}}
{{- define "producer-profile.postgresCa" -}}
{{- if include "producer-profile.fileSource" (dict "name" "postgresCa" "source" .ctx.Values.postgresCa) }}
{{- if eq .part "volume" }}
{{ include "producer-profile.fileVolume" (dict "volume" "postgres-ca" "name" "postgresCa" "source" .ctx.Values.postgresCa) }}
{{- else if eq .part "mount" }}
- name: postgres-ca
  mountPath: {{ include "producer-profile.postgresCaDir" .ctx }}
  readOnly: true
{{- else }}
- name: PGSSLROOTCERT
  value: {{ printf "%s/%s" (include "producer-profile.postgresCaDir" .ctx) .ctx.Values.postgresCa.key | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/*
terminationGracePeriodSeconds: the binaries drain for up to shutdown_grace_secs after
SIGTERM; 15 s more lets them log and exit before the kubelet sends SIGKILL. A preStop
sleep (api.preStopSleepSeconds) runs before SIGTERM, so it is added too.
Call with (dict "ctx" $ "preStop" N).
*/}}
{{- define "producer-profile.terminationGracePeriod" -}}
{{- $grace := .ctx.Values.config.shutdown_grace_secs | default 30 | int }}
{{- add $grace 15 (.preStop | default 0 | int) }}
{{- end }}

{{/*
The file source (Secret or ConfigMap) of jwksFile / kafkaCa: "secret", "configMap" or ""
when neither is set. Call with (dict "name" "jwksFile" "source" .Values.jwksFile).
*/}}
{{- define "producer-profile.fileSource" -}}
{{- if and .source.secretName .source.configMapName }}
{{- fail (printf "%s: set secretName or configMapName, not both" .name) }}
{{- else if .source.secretName }}secret
{{- else if .source.configMapName }}configMap
{{- end }}
{{- end }}

{{/*
A volume holding one key of a Secret or ConfigMap (jwksFile, kafkaCa). The whole
directory is mounted rather than a subPath, so the kubelet keeps the file up to date
when the Secret/ConfigMap changes (a JWKS rotation is then picked up by the next
auth.jwks_refresh_secs reload without a restart).
Call with (dict "volume" "jwks" "name" "jwksFile" "source" .Values.jwksFile).
*/}}
{{- define "producer-profile.fileVolume" -}}
{{- $kind := include "producer-profile.fileSource" . -}}
- name: {{ .volume }}
  {{- if eq $kind "secret" }}
  secret:
    secretName: {{ .source.secretName }}
  {{- else }}
  configMap:
    name: {{ .source.configMapName }}
  {{- end }}
    items:
      - key: {{ .source.key }}
        path: {{ .source.key }}
{{- end }}

{{/*
One env entry read from an existing Secret. Call with
(dict "env" "PP_DATABASE__URL" "ref" .Values.secretRefs.databaseUrl "what" "secretRefs.databaseUrl" "help" "...").
*/}}
{{- define "producer-profile.secretEnv" -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ required (printf "%s.name is required: the name of an existing Secret holding %s" .what .help) .ref.name }}
      key: {{ required (printf "%s.key is required" .what) .ref.key }}
{{- end }}

{{/*
The secret settings of serve and webhook-dispatcher, as environment variables
(PP_ + the setting's path, `__` between sections). They override the ConfigMap's TOML,
which never holds them.
*/}}
{{- define "producer-profile.secretEnvs" -}}
{{ include "producer-profile.secretEnv" (dict "env" "PP_DATABASE__URL" "ref" .Values.secretRefs.databaseUrl "what" "secretRefs.databaseUrl" "help" "the libpq database URL") }}
{{ include "producer-profile.secretEnv" (dict "env" "PP_ENCRYPTION__KEYS" "ref" .Values.secretRefs.encryptionKeys "what" "secretRefs.encryptionKeys" "help" "the field encryption keys (id:base64,id:base64)") }}
{{ include "producer-profile.secretEnv" (dict "env" "PP_ENCRYPTION__BLIND_INDEX_KEY" "ref" .Values.secretRefs.blindIndexKey "what" "secretRefs.blindIndexKey" "help" "the blind index key (base64 of at least 32 bytes)") }}
{{- if .Values.secretRefs.kafkaSaslPassword.name }}
{{ include "producer-profile.secretEnv" (dict "env" "PP_KAFKA__SASL_PASSWORD" "ref" .Values.secretRefs.kafkaSaslPassword "what" "secretRefs.kafkaSaslPassword" "help" "the Kafka SASL password") }}
{{- end }}
{{- end }}

{{/*
Environment common to serve and webhook-dispatcher: the TOML file, then the secrets.
*/}}
{{- define "producer-profile.env" -}}
- name: PP_CONFIG
  value: {{ printf "%s/%s" (include "producer-profile.configDir" .) (include "producer-profile.configFile" .) | quote }}
{{ include "producer-profile.secretEnvs" . }}
{{- include "producer-profile.postgresCa" (dict "ctx" . "part" "env") }}
{{- end }}

{{/*
Volumes common to serve and webhook-dispatcher. JWKS is mounted for serve only (the
dispatcher does not verify tokens): pass (dict "ctx" $ "jwks" true).
*/}}
{{- define "producer-profile.volumes" -}}
- name: config
  configMap:
    name: {{ include "producer-profile.fullname" .ctx }}
# The only writable path; the root filesystem is read-only.
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if and .jwks (include "producer-profile.fileSource" (dict "name" "jwksFile" "source" .ctx.Values.jwksFile)) }}
{{ include "producer-profile.fileVolume" (dict "volume" "jwks" "name" "jwksFile" "source" .ctx.Values.jwksFile) }}
{{- end }}
{{- if include "producer-profile.fileSource" (dict "name" "kafkaCa" "source" .ctx.Values.kafkaCa) }}
{{ include "producer-profile.fileVolume" (dict "volume" "kafka-ca" "name" "kafkaCa" "source" .ctx.Values.kafkaCa) }}
{{- end }}
{{- include "producer-profile.postgresCa" (dict "ctx" .ctx "part" "volume") }}
{{- with .ctx.Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "producer-profile.volumeMounts" -}}
- name: config
  mountPath: {{ include "producer-profile.configDir" .ctx }}
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- if and .jwks (include "producer-profile.fileSource" (dict "name" "jwksFile" "source" .ctx.Values.jwksFile)) }}
- name: jwks
  mountPath: {{ include "producer-profile.jwksDir" .ctx }}
  readOnly: true
{{- end }}
{{- if include "producer-profile.fileSource" (dict "name" "kafkaCa" "source" .ctx.Values.kafkaCa) }}
- name: kafka-ca
  mountPath: {{ include "producer-profile.kafkaCaDir" .ctx }}
  readOnly: true
{{- end }}
{{- include "producer-profile.postgresCa" (dict "ctx" .ctx "part" "mount") }}
{{- with .ctx.Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Affinity of a Deployment: the component's `affinity` when given, else the pod
anti-affinity preset (podAntiAffinity: "", "soft" or "hard") spreading its replicas
over podAntiAffinityTopologyKey. Call with (dict "ctx" $ "component" "api" "values" .Values.api).
*/}}
{{- define "producer-profile.affinity" -}}
{{- if .values.affinity }}
{{- toYaml .values.affinity }}
{{- else if .values.podAntiAffinity }}
{{- $term := dict "topologyKey" .values.podAntiAffinityTopologyKey "labelSelector" (dict "matchLabels" (include "producer-profile.selectorLabels" . | fromYaml)) }}
podAntiAffinity:
  {{- if eq .values.podAntiAffinity "hard" }}
  requiredDuringSchedulingIgnoredDuringExecution:
    - {{- toYaml $term | nindent 6 }}
  {{- else }}
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        {{- toYaml $term | nindent 8 }}
  {{- end }}
{{- end }}
{{- end }}

{{/*
The configuration file. Starts from .Values.config (only what the user set: the
binary's own defaults apply to everything else) and adds what the chart itself needs:
the listen addresses matching the container ports, and the paths of the files it mounts.
Returned as YAML, for fromYaml.
*/}}
{{- define "producer-profile.effectiveConfig" -}}
{{- $cfg := deepCopy .Values.config }}
{{- $_ := set $cfg "listen_addr" (printf "0.0.0.0:%s" (include "producer-profile.grpcPort" .)) }}
{{- $metricsAddr := printf "0.0.0.0:%s" (include "producer-profile.metricsPort" .) }}
{{- $_ = set $cfg "metrics" (dict "serve_addr" $metricsAddr "dispatcher_addr" $metricsAddr) }}
{{- $auth := $cfg.auth | default dict }}
{{- if include "producer-profile.fileSource" (dict "name" "jwksFile" "source" .Values.jwksFile) }}
{{- if $auth.jwks }}
{{- fail "config.auth.jwks and jwksFile are both set: use the URL or the file, not both" }}
{{- end }}
{{- $_ = set $auth "jwks" (printf "%s/%s" (include "producer-profile.jwksDir" .) .Values.jwksFile.key) }}
{{- else if not $auth.jwks }}
{{- fail "config.auth.jwks (an https:// JWKS URL) or jwksFile (an existing Secret/ConfigMap holding the JWKS) is required" }}
{{- end }}
{{- if not $auth.issuer }}
{{- fail "config.auth.issuer is required: the `iss` every access token must carry" }}
{{- end }}
{{- if not (dig "kafka" "brokers" "" $cfg) }}
{{- fail "config.kafka.brokers is required: the Kafka bootstrap servers, host:port[,host:port]" }}
{{- end }}
{{- if not (dig "encryption" "active_key_id" "" $cfg) }}
{{- fail "config.encryption.active_key_id is required: the id of the key (in secretRefs.encryptionKeys) that encrypts new values" }}
{{- end }}
{{- $_ = set $cfg "auth" $auth }}
{{- if include "producer-profile.fileSource" (dict "name" "kafkaCa" "source" .Values.kafkaCa) }}
{{- $kafka := $cfg.kafka | default dict }}
{{- $props := $kafka.properties | default dict }}
{{- if not (hasKey $props "ssl.ca.location") }}
{{- $_ = set $props "ssl.ca.location" (printf "%s/%s" (include "producer-profile.kafkaCaDir" .) .Values.kafkaCa.key) }}
{{- end }}
{{- $_ = set $kafka "properties" $props }}
{{- $_ = set $cfg "kafka" $kafka }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/*
TOML writing. Settings set to null (or left out) are not written, so the binary's
default applies.

tomlValue: one value with its TOML type. Strings and numbers go through toJson: JSON's
string escapes (\" \\ \n \uXXXX) are all valid in a TOML basic string, and toJson prints
16777216 as it is where Go's default formatting of Helm's float64 numbers would print
1.6777216e+07. Booleans stay bare. Call with (dict "key" "kafka.topic" "value" $v).
*/}}
{{- define "producer-profile.tomlValue" -}}
{{- $v := .value }}
{{- if kindIs "string" $v }}
{{- toJson $v }}
{{- else if kindIs "bool" $v }}
{{- ternary "true" "false" $v }}
{{- else if or (kindIs "float64" $v) (kindIs "int" $v) (kindIs "int64" $v) }}
{{- toJson $v }}
{{- else if kindIs "slice" $v }}
{{- $items := list }}
{{- range $v }}
{{- $items = append $items (include "producer-profile.tomlValue" (dict "key" $.key "value" .)) }}
{{- end }}
{{- printf "[%s]" (join ", " $items) }}
{{- else }}
{{- fail (printf "config.%s: a %s cannot be written as a TOML value" .key (kindOf $v)) }}
{{- end }}
{{- end }}

{{/* A key, bare when TOML allows it, else quoted ("security.protocol"). */}}
{{- define "producer-profile.tomlKey" -}}
{{- if regexMatch "^[A-Za-z0-9_-]+$" . }}{{ . }}{{ else }}{{ toJson . }}{{ end }}
{{- end }}

{{/*
tomlTable: the scalars of .table under the header [.path] (no header at the root),
then each sub-table as [.path.key]. Call with (dict "path" "" "table" $config).
*/}}
{{- define "producer-profile.tomlTable" -}}
{{- $path := .path }}
{{- $scalars := dict }}
{{- $tables := dict }}
{{- range $key, $value := .table }}
{{- if kindIs "map" $value }}
{{- $_ := set $tables $key $value }}
{{- else if not (kindIs "invalid" $value) }}
{{- $_ := set $scalars $key $value }}
{{- end }}
{{- end }}
{{- if $scalars }}
{{- if $path }}

[{{ $path }}]
{{- end }}
{{- range $key, $value := $scalars }}
{{ include "producer-profile.tomlKey" $key }} = {{ include "producer-profile.tomlValue" (dict "key" (ternary (printf "%s.%s" $path $key) $key (ne $path "")) "value" $value) }}
{{- end }}
{{- end }}
{{- range $key, $table := $tables }}
{{- $sub := include "producer-profile.tomlKey" $key }}
{{- include "producer-profile.tomlTable" (dict "path" (ternary (printf "%s.%s" $path $sub) $sub (ne $path "")) "table" $table) }}
{{- end }}
{{- end }}
