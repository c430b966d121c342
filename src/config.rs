//! Typed configuration, layered: built-in defaults, then an optional TOML file, then
//! `PP_`-prefixed environment variables (`__` separates sections:
//! `PP_DATABASE__URL` sets `database.url`). Every setting is documented in the README.
//!
//! Secrets (database URL, keys) are wrapped so `Debug` never prints them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::crypto::{FieldCipher, KeyedHasher};

/// The file `make run` writes for local development; read when no other file is named.
pub const LOCAL_DEV_CONFIG: &str = ".local/producer-profile.toml";

/// Secrets whose environment variables are taken as they are. Other `PP_` values are
/// parsed (`007` becomes the number 7, `"x"` becomes x, `[a` is an error), which a
/// password or key must never be.
const RAW_SECRETS: [(&str, &str); 4] = [
    ("PP_DATABASE__URL", "database.url"),
    ("PP_ENCRYPTION__KEYS", "encryption.keys"),
    (
        "PP_ENCRYPTION__BLIND_INDEX_KEY",
        "encryption.blind_index_key",
    ),
    ("PP_KAFKA__SASL_PASSWORD", "kafka.sasl_password"),
];

/// Every setting of both binaries, as [`Config::load`] reads them; the README's
/// Configuration table lists each with its default.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the gRPC server listens on.
    pub listen_addr: SocketAddr,
    /// How long SIGTERM waits for in-flight calls before the server stops anyway.
    pub shutdown_grace_secs: u64,
    /// `database.*`: Postgres and the connection pool.
    pub database: DatabaseConfig,
    /// `kafka.*`: the brokers and the events topic.
    pub kafka: KafkaConfig,
    /// `auth.*`: which access tokens are accepted.
    pub auth: AuthConfig,
    /// `encryption.*`: the keys for sensitive fields and blind indexes.
    pub encryption: EncryptionConfig,
    /// `events.*`: the outbox relay and the event feed.
    pub events: EventsConfig,
    /// `webhooks.*`: endpoints and the delivery of webhooks.
    pub webhooks: WebhooksConfig,
    /// `metrics.*`: where the metrics and health endpoints listen.
    pub metrics: MetricsConfig,
    /// `grpc.*`: the gRPC server's limits.
    pub grpc: GrpcConfig,
    /// `tracing.*`: span export.
    pub tracing: TracingConfig,
    /// `log.*`: log format and filter.
    pub log: LogConfig,
    /// `runtime.*`: the threads the process runs on.
    pub runtime: RuntimeConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
            shutdown_grace_secs: 30,
            database: DatabaseConfig::default(),
            kafka: KafkaConfig::default(),
            auth: AuthConfig::default(),
            encryption: EncryptionConfig::default(),
            events: EventsConfig::default(),
            webhooks: WebhooksConfig::default(),
            metrics: MetricsConfig::default(),
            grpc: GrpcConfig::default(),
            tracing: TracingConfig::default(),
            runtime: RuntimeConfig::default(),
            log: LogConfig::default(),
        }
    }
}

/// Postgres: where it is and how many connections one replica opens.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// libpq connection URL.
    pub url: SecretString,
    /// Most connections the pool opens. Every database call holds one connection on a
    /// blocking thread for its duration, so this bounds concurrent database work per
    /// replica; keep `replicas × pool_max_size` below the server's `max_connections`.
    pub pool_max_size: u32,
    /// How long a call waits for a free connection before failing with UNAVAILABLE.
    pub connect_timeout_ms: u64,
    /// How often the health check pings the database.
    pub health_interval_ms: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: SecretString::from(
                "postgres://producer_profile:producer_profile@127.0.0.1:5432/producer_profile",
            ),
            pool_max_size: 16,
            connect_timeout_ms: 5_000,
            health_interval_ms: 5_000,
        }
    }
}

impl DatabaseConfig {
    /// [`Self::connect_timeout_ms`] as a duration.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// [`Self::health_interval_ms`] as a duration.
    pub fn health_interval(&self) -> Duration {
        Duration::from_millis(self.health_interval_ms)
    }
}

/// The Kafka cluster and the events topic. `Debug` leaves out property values and the
/// password.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list (librdkafka `bootstrap.servers`).
    pub brokers: String,
    /// Topic the domain events go to.
    pub topic: String,
    /// Further librdkafka client properties passed through as they are, e.g.
    /// `security.protocol`, `sasl.mechanism`, `sasl.username`, `ssl.ca.location`.
    pub properties: BTreeMap<String, String>,
    /// librdkafka's `sasl.password`, as a setting of its own: it can come from a secret
    /// through `PP_KAFKA__SASL_PASSWORD` (an environment variable cannot name a dotted
    /// property).
    pub sasl_password: Option<SecretString>,
    /// Partitions of the events topic when the service creates it.
    pub topic_partitions: i32,
    /// Replication factor of the events topic when the service creates it.
    pub topic_replication: i32,
    /// How long one publish may wait for the broker's acknowledgement before the batch is
    /// retried (librdkafka `message.timeout.ms`).
    pub message_timeout_ms: u64,
    /// Publish every event in a record batch of its own. For brokers that cannot fetch
    /// from an offset inside a batch — tansu's in-memory storage, used locally and in
    /// tests, where a consumer resuming mid-batch would wait forever. Costs throughput
    /// on a real cluster: leave it off there.
    pub single_record_batches: bool,
}

/// Property values may be secrets (`sasl.password`, `ssl.key.password`): print the keys only.
impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("properties", &self.properties.keys().collect::<Vec<_>>())
            .field(
                "sasl_password",
                &self.sasl_password.as_ref().map(|_| "<secret>"),
            )
            .field("topic_partitions", &self.topic_partitions)
            .field("topic_replication", &self.topic_replication)
            .field("message_timeout_ms", &self.message_timeout_ms)
            .field("single_record_batches", &self.single_record_batches)
            .finish()
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            topic: "producer-profile.events.v1".into(),
            properties: BTreeMap::new(),
            sasl_password: None,
            topic_partitions: 3,
            topic_replication: 1,
            message_timeout_ms: 10_000,
            single_record_batches: false,
        }
    }
}

/// Access tokens: where the signing keys are and which claims a token must carry.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Where the token signing keys are: a JWKS file path or an `https://` (or `http://`)
    /// URL. Optional only when `dev_signing_key` is set.
    pub jwks: Option<String>,
    /// How often the JWKS is read again, to pick up the issuer's key rotations.
    pub jwks_refresh_secs: u64,
    /// Required `iss` of every token.
    pub issuer: String,
    /// Required `aud` of every token (one of them, if the token lists several).
    pub audience: String,
    /// The claim holding the caller's account (tenant).
    pub account_claim: String,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway_secs: u64,
    /// Enforce the RFC 9068 access-token profile: the `typ: at+jwt` header (which keeps
    /// ID tokens and other JWTs of the same issuer out) and the `sub`, `client_id`, `iat`
    /// and `jti` claims. Turn off only for an identity provider that cannot issue them.
    pub strict_rfc9068: bool,
    /// Allow an `http://` JWKS URL. Off by default: keys fetched in clear could be
    /// replaced by anyone on the path, who could then mint tokens for any account.
    pub allow_http_jwks: bool,
    /// Local development only: PEM file of an Ed25519 private key. When set, the server
    /// also trusts tokens signed by it (kid `dev`), and `producer-profile token` mints them.
    pub dev_signing_key: Option<PathBuf>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwks: None,
            jwks_refresh_secs: 300,
            issuer: String::new(),
            audience: "producer-profile".into(),
            account_claim: "account_id".into(),
            leeway_secs: 30,
            strict_rfc9068: true,
            allow_http_jwks: false,
            dev_signing_key: None,
        }
    }
}

/// The outbox relay, which publishes the event log to Kafka, and the event feed's
/// retention.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// Run the outbox relay in this process. Every replica may run it: one publishes at
    /// a time (an advisory lock elects it), the others stand by.
    pub relay_enabled: bool,
    /// The relay's fallback poll when no notification arrives (it is woken on commit).
    pub poll_interval_ms: u64,
    /// Most events published per batch.
    pub batch_size: usize,
    /// How long published events stay readable through ListEvents.
    pub retention_days: u32,
    /// CloudEvents `source` of every event (`ce_source`).
    pub source: String,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            relay_enabled: true,
            poll_interval_ms: 1_000,
            batch_size: 500,
            retention_days: 30,
            source: "urn:producer-profile".into(),
        }
    }
}

impl EventsConfig {
    /// [`Self::poll_interval_ms`] as a duration.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    /// [`Self::retention_days`] as a duration.
    pub fn retention(&self) -> chrono::Duration {
        chrono::Duration::days(i64::from(self.retention_days))
    }
}

/// Webhook endpoints and the dispatcher that delivers to them.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Allow `http://` endpoints and private/loopback addresses. For local runs and tests
    /// only: off, partners' URLs can only reach public https addresses.
    pub allow_private_targets: bool,
    /// A delivery succeeds with a 2xx answer within this time.
    pub delivery_timeout_ms: u64,
    /// An endpoint being created must answer its verification request within this time.
    pub verification_timeout_ms: u64,
    /// Delays before each retry, comma-separated (`5s,5m,30m,2h,5h,10h,10h`); after the
    /// last one a delivery fails (and can be replayed).
    pub retry_schedule: String,
    /// Each delay varies by ± this fraction.
    pub retry_jitter: f64,
    /// An endpoint whose every attempt failed for this long is disabled.
    pub disable_after_hours: u64,
    /// How long a rotated-out secret keeps signing alongside the new one.
    pub secret_overlap_hours: u64,
    /// Most attempts in flight to one endpoint from one dispatcher (a slow endpoint holds
    /// only these, never the others' share).
    pub max_in_flight_per_endpoint: usize,
    /// Most attempts in flight from one dispatcher.
    pub max_in_flight: usize,
    /// How often the dispatcher looks for due deliveries when nothing wakes it.
    pub poll_interval_ms: u64,
    /// How long finished deliveries and their attempts stay listed (and failed ones
    /// replayable); then the dispatcher purges them.
    pub retention_days: u32,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            allow_private_targets: false,
            delivery_timeout_ms: 15_000,
            verification_timeout_ms: 5_000,
            retry_schedule: "5s,5m,30m,2h,5h,10h,10h".into(),
            retry_jitter: 0.2,
            disable_after_hours: 120,
            secret_overlap_hours: 24,
            max_in_flight_per_endpoint: 4,
            max_in_flight: 64,
            poll_interval_ms: 500,
            retention_days: 30,
        }
    }
}

impl WebhooksConfig {
    /// Checks the settings both binaries use.
    fn validate(&self) -> Result<(), ConfigError> {
        self.retry_schedule()?;
        at_least_one("webhooks.max_in_flight", self.max_in_flight >= 1)?;
        at_least_one(
            "webhooks.max_in_flight_per_endpoint",
            self.max_in_flight_per_endpoint >= 1,
        )?;
        retention_days("webhooks.retention_days", self.retention_days)?;
        Ok(())
    }

    /// [`Self::retention_days`] as a duration.
    pub fn retention(&self) -> chrono::Duration {
        chrono::Duration::days(i64::from(self.retention_days))
    }

    /// The schedule the `retry_schedule` and `retry_jitter` settings describe; the error
    /// names `webhooks.retry_schedule`.
    pub fn retry_schedule(&self) -> Result<crate::domain::webhook::RetrySchedule, ConfigError> {
        crate::domain::webhook::RetrySchedule::parse(&self.retry_schedule, self.retry_jitter)
            .map_err(|e| ConfigError::new("webhooks.retry_schedule", e.0))
    }

    /// Which endpoint URLs are accepted: `http://` too only with
    /// [`Self::allow_private_targets`].
    pub fn url_policy(&self) -> crate::domain::webhook::UrlPolicy {
        if self.allow_private_targets {
            crate::domain::webhook::UrlPolicy::AllowHttp
        } else {
            crate::domain::webhook::UrlPolicy::HttpsOnly
        }
    }
}

/// The keys of field encryption and of the blind indexes. Both are checked by
/// `validate_for_serving` and `validate_for_dispatching`, not on load.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EncryptionConfig {
    /// Id of the key that encrypts new values; must be one of `keys`.
    pub active_key_id: String,
    /// Every key that may decrypt stored values: `id:base64,id:base64` with 32-byte
    /// AES-256 keys. Keep old keys here until no row uses them.
    pub keys: SecretString,
    /// Base64 of at least 32 bytes: the HMAC key of the SSN blind index and request
    /// fingerprints. Changing it orphans existing blind indexes.
    pub blind_index_key: SecretString,
}

/// The listen addresses of `/metrics`, `/healthz` and `/readyz`, one per binary.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Where `serve` answers `/metrics`, `/healthz` and `/readyz`.
    pub serve_addr: SocketAddr,
    /// Where `webhook-dispatcher` answers them (another port: both run on one machine
    /// locally).
    pub dispatcher_addr: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            serve_addr: SocketAddr::from(([127, 0, 0, 1], 9090)),
            dispatcher_addr: SocketAddr::from(([127, 0, 0, 1], 9091)),
        }
    }
}

/// The threads of the async runtime, sized for the pod rather than the node.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Threads that run calls, deliveries and background loops (0: one per CPU the
    /// process may use, which on Kubernetes is its CPU limit).
    pub worker_threads: usize,
    /// Most threads for blocking work: database calls, each holding a pooled connection,
    /// and DNS lookups (0: `database.pool_max_size` + 4; more would only wait for a
    /// connection).
    pub max_blocking_threads: usize,
}

/// The most threads of either kind a setting may ask for.
const MOST_THREADS: usize = 1024;

impl RuntimeConfig {
    /// [`Self::max_blocking_threads`], with its default worked out.
    pub fn blocking_threads(&self, database: &DatabaseConfig) -> usize {
        match self.max_blocking_threads {
            0 => database.pool_max_size as usize + 4,
            n => n,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for (setting, value) in [
            ("runtime.worker_threads", self.worker_threads),
            ("runtime.max_blocking_threads", self.max_blocking_threads),
        ] {
            if value > MOST_THREADS {
                return Err(ConfigError::new(
                    setting,
                    format!("must be at most {MOST_THREADS} (0: the default)"),
                ));
            }
        }
        Ok(())
    }
}

/// Limits of the gRPC server: what one caller can make it hold.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcConfig {
    /// Largest request (and response) message, in bytes.
    pub max_message_bytes: usize,
    /// Most calls in flight on one HTTP/2 connection.
    pub max_concurrent_streams: u32,
    /// A call still running after this is answered CANCELLED ("Timeout expired"); a
    /// shorter `grpc-timeout` from the caller wins. As with any deadline, a write that
    /// was already committing may still complete.
    pub request_timeout_ms: u64,
    /// Idle connections are pinged this often…
    pub keepalive_interval_secs: u64,
    /// …and closed when a ping is not answered within this.
    pub keepalive_timeout_secs: u64,
    /// Connections are closed (gracefully: calls in flight finish) after this long, so
    /// clients reconnect and spread over replicas added since (0: never).
    pub max_connection_age_secs: u64,
    /// How long a mutation's `request_id` (and the answer kept for its retries) is
    /// remembered; a retry after that runs as a new request.
    pub request_id_retention_days: u32,
}

impl GrpcConfig {
    /// [`Self::request_id_retention_days`] as a duration.
    pub fn request_id_retention(&self) -> chrono::Duration {
        chrono::Duration::days(i64::from(self.request_id_retention_days))
    }
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 4 * 1024 * 1024,
            max_concurrent_streams: 256,
            request_timeout_ms: 30_000,
            keepalive_interval_secs: 30,
            keepalive_timeout_secs: 10,
            max_connection_age_secs: 300,
            request_id_retention_days: 30,
        }
    }
}

/// Distributed tracing: W3C trace context is always carried (request → event → webhook);
/// spans are exported only when a collector is configured.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TracingConfig {
    /// OTLP/HTTP collector base URL, e.g. `http://otel-collector:4318`; spans go to
    /// `<url>/v1/traces`. None: nothing is exported.
    pub otlp_endpoint: Option<String>,
    /// Share of new traces recorded; a caller's sampling decision is always followed.
    pub sample_ratio: f64,
}

impl Default for TracingConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            sample_ratio: 1.0,
        }
    }
}

impl TracingConfig {
    /// The collector's traces URL, when one is configured.
    pub fn traces_url(&self) -> Result<Option<String>, ConfigError> {
        let Some(base) = self
            .otlp_endpoint
            .as_deref()
            .filter(|e| !e.trim().is_empty())
        else {
            return Ok(None);
        };
        let url = url::Url::parse(base.trim())
            .map_err(|e| ConfigError::new("tracing.otlp_endpoint", format!("is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConfigError::new(
                "tracing.otlp_endpoint",
                "must be an http:// or https:// URL (OTLP over HTTP)",
            ));
        }
        Ok(Some(format!(
            "{}/v1/traces",
            url.as_str().trim_end_matches('/')
        )))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.traces_url()?;
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err(ConfigError::new(
                "tracing.sample_ratio",
                "must be between 0 and 1",
            ));
        }
        Ok(())
    }
}

/// Log output.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `pretty` (readable, for development) or `json` (one object per line, for
    /// production).
    pub format: LogFormat,
    /// tracing-subscriber `EnvFilter` directives; `RUST_LOG` wins when set.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            filter: "info".into(),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines, for development.
    Pretty,
    /// One JSON object per line, for production.
    Json,
}

/// A configuration problem, naming the setting.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {setting}: {problem}")]
pub struct ConfigError {
    /// The setting's path, e.g. `webhooks.retry_schedule` (or `config file`).
    pub setting: String,
    /// What is wrong with it.
    pub problem: String,
}

/// The error for a count that must be at least 1, unless `ok`.
fn at_least_one(setting: &str, ok: bool) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(setting, "must be at least 1"))
    }
}

/// A retention period: at least a day, at most ten years (the purge's cutoff, now minus
/// the period, must be a time the clock can name).
fn retention_days(setting: &str, days: u32) -> Result<(), ConfigError> {
    if (1..=3650).contains(&days) {
        Ok(())
    } else {
        Err(ConfigError::new(setting, "must be from 1 to 3650 days"))
    }
}

impl ConfigError {
    /// A problem with `setting`.
    pub fn new(setting: &str, problem: impl Into<String>) -> Self {
        Self {
            setting: setting.to_owned(),
            problem: problem.into(),
        }
    }
}

impl Config {
    /// Loads defaults, then `file` (or `PP_CONFIG`, or [`LOCAL_DEV_CONFIG`] when it
    /// exists), then the `PP_` environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let env_file = std::env::var_os("PP_CONFIG").map(PathBuf::from);
        let local = Path::new(LOCAL_DEV_CONFIG);
        let file = file
            .map(Path::to_path_buf)
            .or(env_file)
            .or_else(|| local.exists().then(|| local.to_path_buf()));
        let mut figment = Figment::new();
        if let Some(path) = &file {
            if !path.exists() {
                return Err(ConfigError::new(
                    "config file",
                    format!("{} does not exist", path.display()),
                ));
            }
            figment = figment.merge(Toml::file(path));
        }
        let parsed_env = Env::prefixed("PP_")
            .ignore(&["config"])
            .split("__")
            .filter(|key| !RAW_SECRETS.iter().any(|(_, setting)| key == *setting));
        let mut config: Config = figment.merge(parsed_env).extract().map_err(|error| {
            let setting = error.path.join(".");
            ConfigError::new(
                if setting.is_empty() {
                    "config"
                } else {
                    &setting
                },
                error.kind.to_string(),
            )
        })?;
        config.apply_raw_secrets(|name| std::env::var(name).ok());
        config.tracing.validate()?;
        config.runtime.validate()?;
        Ok(config)
    }

    /// Sets the secret settings whose environment variables are set, taking each value
    /// exactly as it is.
    fn apply_raw_secrets(&mut self, lookup: impl Fn(&str) -> Option<String>) {
        for (variable, setting) in RAW_SECRETS {
            let Some(value) = lookup(variable) else {
                continue;
            };
            let value = SecretString::from(value);
            match setting {
                "database.url" => self.database.url = value,
                "encryption.keys" => self.encryption.keys = value,
                "encryption.blind_index_key" => self.encryption.blind_index_key = value,
                "kafka.sasl_password" => self.kafka.sasl_password = Some(value),
                _ => unreachable!("every raw secret is handled"),
            }
        }
    }

    /// Checks what `webhook-dispatcher` needs beyond what parsing checked.
    pub fn validate_for_dispatching(&self) -> Result<(), ConfigError> {
        self.encryption.field_cipher()?;
        self.encryption.keyed_hasher()?;
        self.webhooks.validate()?;
        Ok(())
    }

    /// Checks what `serve` needs beyond what parsing checked.
    pub fn validate_for_serving(&self) -> Result<(), ConfigError> {
        if self.auth.jwks.is_none() && self.auth.dev_signing_key.is_none() {
            return Err(ConfigError::new(
                "auth.jwks",
                "is required (a JWKS file path or URL; PP_AUTH__JWKS)",
            ));
        }
        if let Some(url) = &self.auth.jwks
            && url.starts_with("http://")
            && !self.auth.allow_http_jwks
        {
            return Err(ConfigError::new(
                "auth.jwks",
                "must be an https:// URL (or a file); set auth.allow_http_jwks for local use",
            ));
        }
        if self.auth.issuer.is_empty() {
            return Err(ConfigError::new(
                "auth.issuer",
                "is required (PP_AUTH__ISSUER)",
            ));
        }
        if self.auth.audience.is_empty() {
            return Err(ConfigError::new("auth.audience", "must not be empty"));
        }
        at_least_one("events.batch_size", self.events.batch_size >= 1)?;
        at_least_one("kafka.topic_partitions", self.kafka.topic_partitions >= 1)?;
        at_least_one("kafka.topic_replication", self.kafka.topic_replication >= 1)?;
        retention_days("events.retention_days", self.events.retention_days)?;
        retention_days(
            "grpc.request_id_retention_days",
            self.grpc.request_id_retention_days,
        )?;
        self.webhooks.validate()?;
        at_least_one("database.pool_max_size", self.database.pool_max_size >= 1)?;
        self.encryption.field_cipher()?;
        self.encryption.keyed_hasher()?;
        Ok(())
    }
}

impl EncryptionConfig {
    /// The key ring for field encryption.
    pub fn field_cipher(&self) -> Result<FieldCipher, ConfigError> {
        let raw = self.keys.expose_secret();
        if raw.trim().is_empty() {
            return Err(ConfigError::new(
                "encryption.keys",
                "is required: id:base64-of-32-bytes[,id:base64…] (PP_ENCRYPTION__KEYS)",
            ));
        }
        let mut keys = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (id, encoded) = entry.split_once(':').ok_or_else(|| {
                ConfigError::new("encryption.keys", "each entry must be id:base64")
            })?;
            let bytes = BASE64.decode(encoded.trim()).map_err(|_| {
                ConfigError::new(
                    "encryption.keys",
                    format!("key {:?} is not valid base64", id.trim()),
                )
            })?;
            keys.push((id.trim().to_owned(), bytes));
        }
        FieldCipher::new(&self.active_key_id, keys).map_err(|error| {
            let setting = if self.active_key_id.is_empty() {
                "encryption.active_key_id"
            } else {
                "encryption.keys"
            };
            ConfigError::new(setting, error.to_string())
        })
    }

    /// The HMAC key for blind indexes and request fingerprints.
    pub fn keyed_hasher(&self) -> Result<KeyedHasher, ConfigError> {
        let setting = "encryption.blind_index_key";
        let bytes = BASE64
            .decode(self.blind_index_key.expose_secret().trim())
            .map_err(|_| {
                ConfigError::new(setting, "must be base64 (PP_ENCRYPTION__BLIND_INDEX_KEY)")
            })?;
        KeyedHasher::new(&bytes).map_err(|problem| ConfigError::new(setting, problem.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encryption(keys: &str, active: &str) -> EncryptionConfig {
        EncryptionConfig {
            active_key_id: active.into(),
            keys: SecretString::from(keys),
            blind_index_key: SecretString::from(BASE64.encode([9u8; 32])),
        }
    }

    #[test]
    fn secrets_from_the_environment_are_taken_as_they_are() {
        let mut config = Config::default();
        config.apply_raw_secrets(|name| match name {
            "PP_KAFKA__SASL_PASSWORD" => Some("007".into()),
            "PP_DATABASE__URL" => Some("\"postgres://x\"".into()),
            _ => None,
        });
        let password = config.kafka.sasl_password.expect("set");
        assert_eq!(password.expose_secret(), "007");
        assert_eq!(config.database.url.expose_secret(), "\"postgres://x\"");
        assert!(
            config.encryption.keys.expose_secret().is_empty(),
            "unset stays unset"
        );
    }

    #[test]
    fn key_lists_parse_and_errors_name_the_setting() {
        let key = BASE64.encode([1u8; 32]);
        let other = BASE64.encode([2u8; 32]);
        assert!(
            encryption(&format!("k1:{key}, k0:{other}"), "k1")
                .field_cipher()
                .is_ok()
        );
        let missing_active = encryption(&format!("k1:{key}"), "k2")
            .field_cipher()
            .unwrap_err();
        assert_eq!(missing_active.setting, "encryption.keys");
        let empty = encryption("", "k1").field_cipher().unwrap_err();
        assert_eq!(empty.setting, "encryption.keys");
        let short = encryption(&format!("k1:{}", BASE64.encode([1u8; 16])), "k1");
        assert!(
            short
                .field_cipher()
                .unwrap_err()
                .problem
                .contains("32 bytes")
        );
    }

    #[test]
    fn plain_http_jwks_urls_need_the_explicit_switch() {
        let mut config = Config::default();
        config.auth.jwks = Some("http://idp.internal/jwks.json".into());
        config.auth.issuer = "https://idp.internal/".into();
        config.encryption = encryption(&format!("k1:{}", BASE64.encode([1u8; 32])), "k1");
        assert_eq!(
            config.validate_for_serving().unwrap_err().setting,
            "auth.jwks"
        );
        config.auth.allow_http_jwks = true;
        assert!(config.validate_for_serving().is_ok());
        config.auth.jwks = Some("https://idp.example/jwks.json".into());
        config.auth.allow_http_jwks = false;
        assert!(config.validate_for_serving().is_ok());
    }

    #[test]
    fn retention_periods_the_clock_cannot_subtract_are_refused() {
        let mut config = Config::default();
        config.auth.jwks = Some("https://idp.example/jwks.json".into());
        config.auth.issuer = "https://idp.example/".into();
        config.encryption = encryption(&format!("k1:{}", BASE64.encode([1u8; 32])), "k1");
        assert!(config.validate_for_serving().is_ok());
        config.grpc.request_id_retention_days = u32::MAX;
        assert_eq!(
            config.validate_for_serving().unwrap_err().setting,
            "grpc.request_id_retention_days"
        );
        config.grpc.request_id_retention_days = 0;
        assert!(config.validate_for_serving().is_err());
        config.grpc.request_id_retention_days = 30;
        config.events.retention_days = 100_000_000;
        assert_eq!(
            config.validate_for_serving().unwrap_err().setting,
            "events.retention_days"
        );
    }

    #[test]
    fn secrets_are_not_printed_by_debug() {
        let config = encryption(&format!("k1:{}", BASE64.encode([1u8; 32])), "k1");
        let mut everything = Config::default();
        everything
            .kafka
            .properties
            .insert("sasl.password".into(), "hunter2".into());
        let printed = format!("{config:?} {everything:?}");
        assert!(
            printed.contains("sasl.password") && !printed.contains("hunter2"),
            "{printed}"
        );
        assert!(!printed.contains(&BASE64.encode([1u8; 32])), "{printed}");
        assert!(!printed.contains("producer_profile@"), "{printed}");
    }
}
