//! `producer-profile serve`: wires configuration, keys, the database pool and the gRPC
//! services together, runs them, and drains in-flight calls on shutdown.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::api::grpc::{self, Health};
use crate::auth::{
    DevKeyError, DevSigningKey, JwksError, JwksSource, KeySet, TokenVerifier, VerifierSettings,
};
use crate::config::{AuthConfig, Config, ConfigError};
use crate::crypto::Protection;
use crate::events::messages::ProtobufEvents;
use crate::events::relay::{self, RelaySettings, RelayStatus};
use crate::metrics::relay::RelayMetrics;
use crate::metrics::rpc::RpcMetrics;
use crate::metrics::{Metrics, endpoint};
use crate::storage::Database;
use crate::tasks::AbortOnDrop;
use crate::webhooks::http::{ClientError, Deliverer};

pub use crate::api::grpc::{EVENT_RELAY, FEED_SERVICE, PRODUCER_SERVICE};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A setting is missing or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The JWKS could not be loaded at start.
    #[error("auth.jwks: {0}")]
    Jwks(#[from] JwksError),
    /// The HTTP client for the JWKS could not be built.
    #[error("auth.jwks: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// The development signing key could not be read.
    #[error("auth.dev_signing_key: {0}")]
    DevKey(#[from] DevKeyError),
    /// The HTTP client that verifies webhook endpoints could not be built.
    #[error("webhooks: {0}")]
    Webhooks(#[from] ClientError),
    /// The metrics endpoint could not bind its address.
    #[error("metrics.serve_addr: {0}")]
    Metrics(#[from] endpoint::BindError),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// A server task panicked or was cancelled.
    #[error("server task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Serves on `listener` until `shutdown` completes, then stops accepting calls, reports
/// NOT_SERVING, and waits up to `shutdown_grace_secs` for in-flight calls to finish.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    config.validate_for_serving()?;
    let protection = Arc::new(Protection {
        cipher: config.encryption.field_cipher()?,
        hasher: config.encryption.keyed_hasher()?,
    });
    // No redirects: the JWKS must come from the configured address itself.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(ServeError::HttpClient)?;
    let dev_key = load_dev_key(&config.auth)?;
    let keys = load_keys(&config.auth, &http, dev_key.as_ref()).await?;
    let verifier = Arc::new(TokenVerifier::new(
        keys,
        VerifierSettings::from(&config.auth),
    ));
    let db = Database::new(&config.database);
    let local_writes = db.committed_writes();
    let metrics_listener = endpoint::bind(config.metrics.serve_addr).await?;
    let relay_status = Arc::new(RelayStatus::default());
    let mut metrics = Metrics::default();
    metrics.register_pool(&db);
    let rpc_metrics = Arc::new(RpcMetrics::register(&mut metrics, grpc::served_methods()));
    let relay_metrics = RelayMetrics::register(&mut metrics, relay_status.clone());
    let verification = Duration::from_millis(config.webhooks.verification_timeout_ms);
    let parts = grpc::Parts {
        db: db.clone(),
        protection,
        verifier: verifier.clone(),
        encoder: Arc::new(ProtobufEvents),
        verifying_client: Deliverer::build(verification, (&config.webhooks).into())?,
        webhooks: config.webhooks.clone(),
        rpc_metrics,
    };
    let server = grpc::Server::new(&config.grpc, parts).await;
    let health = server.health();

    // Ready (for /readyz) while the database answers and the server is not stopping.
    let ready = Arc::new(AtomicBool::new(false));
    let mut background = JoinSet::new();
    background.spawn(watch_database(
        db,
        health.clone(),
        ready.clone(),
        config.database.health_interval(),
    ));
    if config.auth.jwks.is_some() {
        background.spawn(refresh_keys(config.auth.clone(), http, dev_key, verifier));
    }
    let is_ready = ready.clone();
    // Kept to the very end: probes keep answering (liveness yes, readiness no) while
    // in-flight calls drain.
    let _metrics_endpoint = AbortOnDrop(tokio::spawn(endpoint::serve(
        metrics_listener,
        Arc::new(metrics),
        Arc::new(move || is_ready.load(Ordering::Relaxed)),
    )));
    let (stop_relay, relay_stopped) = tokio::sync::watch::channel(false);
    let relay = config.events.relay_enabled.then(|| {
        background.spawn(report_relay(relay_status.clone(), health.clone()));
        let settings = RelaySettings {
            database_url: config.database.url.clone(),
            kafka: config.kafka.clone(),
            events: config.events.clone(),
            request_id_retention: config.grpc.request_id_retention(),
            metrics: relay_metrics,
            local_writes: local_writes.clone(),
        };
        AbortOnDrop(tokio::spawn(relay::run(
            settings,
            relay_status.clone(),
            relay_stopped,
        )))
    });

    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(server.serve(listener, async {
        let _ = stopped.await;
    }));
    tracing::info!(%address, "serving gRPC");

    tokio::select! {
        ended = &mut server => {
            background.abort_all();
            drop(relay);
            return Ok(ended??);
        }
        () = shutdown => {}
    }
    tracing::info!("shutting down: no new calls, draining in-flight ones");
    background.abort_all();
    ready.store(false, Ordering::Relaxed);
    health.set_api(false).await;
    let _ = stop.send(());
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let deadline = tokio::time::Instant::now() + grace;
    match tokio::time::timeout_at(deadline, &mut server).await {
        Ok(ended) => ended??,
        Err(_) => {
            tracing::warn!(
                ?grace,
                "grace period over: abandoning calls still in flight"
            );
            server.abort();
        }
    }
    // The relay publishes what the drained calls committed, then flushes and stops.
    let _ = stop_relay.send(true);
    if let Some(mut relay) = relay
        && tokio::time::timeout_at(deadline, &mut relay.0)
            .await
            .is_err()
    {
        tracing::warn!(
            "grace period over: the event relay stops mid-batch (it resumes on restart)"
        );
    }
    tracing::info!("stopped");
    Ok(())
}

/// Pings the database every `interval`: SERVING (and ready) while it answers,
/// NOT_SERVING while it does not. Logs each change once.
async fn watch_database(db: Database, health: Health, ready: Arc<AtomicBool>, interval: Duration) {
    let mut serving = None;
    let mut ticks = tokio::time::interval(interval);
    loop {
        ticks.tick().await;
        let result = db.ping().await;
        let now_serving = result.is_ok();
        if serving != Some(now_serving) {
            match &result {
                Ok(()) => tracing::info!("database reachable: SERVING"),
                Err(error) => tracing::warn!(%error, "database unreachable: NOT_SERVING"),
            }
            health.set_api(now_serving).await;
            ready.store(now_serving, Ordering::Relaxed);
            serving = Some(now_serving);
        }
    }
}

fn load_dev_key(auth: &AuthConfig) -> Result<Option<Arc<DevSigningKey>>, ServeError> {
    let Some(path) = &auth.dev_signing_key else {
        return Ok(None);
    };
    let key = DevSigningKey::load(path)?;
    tracing::warn!(
        path = %path.display(),
        "trusting the local development signing key: never configure auth.dev_signing_key in production"
    );
    Ok(Some(Arc::new(key)))
}

/// The JWKS keys (when configured) plus the development key (when configured).
async fn load_keys(
    auth: &AuthConfig,
    http: &reqwest::Client,
    dev_key: Option<&Arc<DevSigningKey>>,
) -> Result<KeySet, JwksError> {
    let mut keys = match &auth.jwks {
        Some(source) => {
            let (keys, skipped) = JwksSource::parse(source).load(http).await?;
            for reason in skipped {
                tracing::warn!(%reason, "JWKS key skipped");
            }
            keys
        }
        None => KeySet::default(),
    };
    if let Some(dev_key) = dev_key {
        keys = keys.with(dev_key.verification_key());
    }
    Ok(keys)
}

/// Reloads the JWKS every `auth.jwks_refresh_secs`, so the issuer's key rotations are
/// picked up; a failed reload keeps the keys already trusted.
async fn refresh_keys(
    auth: AuthConfig,
    http: reqwest::Client,
    dev_key: Option<Arc<DevSigningKey>>,
    verifier: Arc<TokenVerifier>,
) {
    let period = Duration::from_secs(auth.jwks_refresh_secs.max(1));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        ticks.tick().await;
        match load_keys(&auth, &http, dev_key.as_ref()).await {
            Ok(keys) => verifier.replace_keys(keys),
            Err(error) => tracing::warn!(%error, "JWKS refresh failed; keeping the current keys"),
        }
    }
}

/// Keeps the relay's health entry in step with its state, and logs state changes.
async fn report_relay(status: Arc<RelayStatus>, health: Health) {
    let mut previous = None;
    let mut ticks = tokio::time::interval(Duration::from_millis(500));
    loop {
        ticks.tick().await;
        let report = status.report();
        if previous != Some(report.state) {
            tracing::info!(state = ?report.state, backlog = report.backlog, error = ?report.last_error, "event relay state");
            health.set_relay(status.is_healthy()).await;
            previous = Some(report.state);
        }
    }
}
