//! The one place logging and tracing are set up: readable lines in development, JSON in
//! production; OpenTelemetry spans always (so every request has a trace id that travels
//! with its events to the webhooks), exported over OTLP/HTTP when a collector is
//! configured. Spans and fields never carry sensitive values (see
//! `domain::identifiers::Ssn`).

pub mod grpc;
pub mod trace_context;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Layer as _, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{ConfigError, LogConfig, LogFormat, TracingConfig};

/// Keeps the span pipeline alive; [`Telemetry::shutdown`] flushes what is not exported
/// yet (call it as the binary ends).
pub struct Telemetry {
    provider: SdkTracerProvider,
}

/// How long the exit waits for the last spans to reach the collector.
const FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl Telemetry {
    /// Flushes the last spans (up to a few seconds: a collector that is down must not
    /// hold the exit), on a blocking thread.
    pub async fn shutdown(self) {
        let flushed =
            tokio::task::spawn_blocking(move || self.provider.shutdown_with_timeout(FLUSH_TIMEOUT))
                .await;
        if let Ok(Err(error)) = flushed {
            tracing::warn!(%error, "flushing the last spans failed");
        }
    }
}

/// Installs the global subscriber for `service` (the binary's name). `RUST_LOG`, when
/// set, wins over `log.filter`. A bad `tracing.*` setting is an error naming it.
pub fn init(
    log: &LogConfig,
    tracing_config: &TracingConfig,
    service: &'static str,
) -> Result<Telemetry, ConfigError> {
    let provider = tracer_provider(tracing_config, service)?;
    let log_filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Spans have a filter of their own: a quieter log must not cut traces short.
    let spans = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(service))
        .with_filter(Targets::new().with_target("producer_profile", tracing::Level::INFO));
    let registry = tracing_subscriber::registry().with(spans);
    // A second init (tests start many servers in one process) keeps the first subscriber.
    let _ = match log.format {
        LogFormat::Pretty => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(colours_wanted())
                    .with_filter(log_filter),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    // Every enclosing span's fields: the request span carries `trace_id`.
                    .with_span_list(true)
                    .with_current_span(false)
                    .with_filter(log_filter),
            )
            .try_init(),
    };
    Ok(Telemetry { provider })
}

/// Colours only for a person at a terminal: log files (`.local/logs/`), pipes and CI
/// output get plain text, and `NO_COLOR` (no-color.org) turns them off everywhere.
fn colours_wanted() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Spans get ids and sampling decisions always; they leave the process only when a
/// collector is configured (a batch exporter on its own thread, never blocking a call).
fn tracer_provider(
    config: &TracingConfig,
    service: &'static str,
) -> Result<SdkTracerProvider, ConfigError> {
    let mut builder = SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            config.sample_ratio,
        ))))
        .with_resource(Resource::builder().with_service_name(service).build());
    if let Some(url) = config.traces_url()? {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(url)
            .build()
            .map_err(|e| ConfigError::new("tracing.otlp_endpoint", e.to_string()))?;
        builder = builder.with_batch_exporter(exporter);
    }
    Ok(builder.build())
}
