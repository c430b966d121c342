//! `producer-profile serve`: wires configuration, keys, the database pool and the gRPC
//! services together, runs them, and drains in-flight calls on shutdown.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::interceptor::InterceptedService;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::api::authn::Authenticate;
use crate::api::event_feed::{EventFeedApi, WithOldFeedAddress};
use crate::api::producer_service::ProducerProfileApi;
use crate::api::webhook_service::WebhookApi;
use crate::auth::{
    DevKeyError, DevSigningKey, JwksError, JwksSource, KeySet, TokenVerifier, VerifierSettings,
};
use crate::config::{AuthConfig, Config, ConfigError, GrpcConfig};
use crate::crypto::Protection;
use crate::events::messages::ProtobufEvents;
use crate::events::relay::{self, RelaySettings, RelayStatus};
use crate::metrics::relay::RelayMetrics;
use crate::metrics::rpc::RpcMetrics;
use crate::metrics::{Metrics, endpoint};
use crate::proto::events::event_service_server::EventServiceServer;
use crate::proto::v1::webhook_service_server::WebhookServiceServer;
use crate::proto::{self, v1::producer_profile_service_server::ProducerProfileServiceServer};
use crate::storage::Database;
use crate::tasks::AbortOnDrop;
use crate::telemetry::grpc::ObserveCalls;
use crate::webhooks::http::Deliverer;

/// The gRPC name of the producer service, as health checks ask for it.
pub const PRODUCER_SERVICE: &str = "producerprofile.v1.ProducerProfileService";
/// The gRPC name of the event feed, as health checks ask for it.
pub const FEED_SERVICE: &str = "producerprofile.events.v1.EventService";
/// The health entry of the event relay: NOT_SERVING while it cannot publish (the broker
/// or the database is away). The API keeps serving meanwhile; events wait in the log.
pub const EVENT_RELAY: &str = "producerprofile.v1.EventRelay";

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("auth.jwks: {0}")]
    Jwks(#[from] JwksError),
    #[error("auth.jwks: {0}")]
    HttpClient(#[source] reqwest::Error),
    #[error("auth.dev_signing_key: {0}")]
    DevKey(#[from] DevKeyError),
    #[error("webhooks: {0}")]
    Webhooks(String),
    #[error("metrics.serve_addr: {0}")]
    Metrics(#[from] endpoint::BindError),
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
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
    let metrics_listener = endpoint::bind(config.metrics.serve_addr).await?;

    let (health, health_service) = tonic_health::server::health_reporter();
    set_health(&health, ServingStatus::NotServing).await;
    // Ready (for /readyz) while the database answers and the server is not stopping.
    let ready = Arc::new(AtomicBool::new(false));
    let mut background = JoinSet::new();
    background.spawn(watch_database(
        db.clone(),
        health.clone(),
        ready.clone(),
        config.database.health_interval(),
    ));
    if config.auth.jwks.is_some() {
        background.spawn(refresh_keys(
            config.auth.clone(),
            http,
            dev_key,
            verifier.clone(),
        ));
    }
    let relay_status = Arc::new(RelayStatus::default());
    let mut metrics = Metrics::default();
    metrics.register_pool(&db);
    let rpc_metrics = Arc::new(RpcMetrics::register(&mut metrics, served_methods()));
    let relay_metrics = RelayMetrics::register(&mut metrics, relay_status.clone());
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
        };
        AbortOnDrop(tokio::spawn(relay::run(
            settings,
            relay_status.clone(),
            relay_stopped,
        )))
    });

    // Both reflection versions: grpcurl 1.8 and older clients only speak v1alpha.
    let reflection_v1 = reflection()
        .build_v1()
        .expect("descriptors compiled by build.rs are valid");
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .expect("descriptors compiled by build.rs are valid");
    let verification = Duration::from_millis(config.webhooks.verification_timeout_ms);
    let verifying_client = Deliverer::new(verification, config.webhooks.address_policy())
        .map_err(ServeError::Webhooks)?;
    let limit = config.grpc.max_message_bytes;
    let webhooks = InterceptedService::new(
        WebhookServiceServer::new(WebhookApi::new(
            db.clone(),
            protection.clone(),
            verifying_client,
            config.webhooks.clone(),
        ))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit),
        Authenticate::new(verifier.clone()),
    );
    let feed = InterceptedService::new(
        EventServiceServer::new(EventFeedApi::new(db.clone(), &protection))
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit),
        Authenticate::new(verifier.clone()),
    );
    let producers = WithOldFeedAddress {
        producers: InterceptedService::new(
            ProducerProfileServiceServer::new(ProducerProfileApi::new(
                db,
                protection,
                Arc::new(ProtobufEvents),
            ))
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit),
            Authenticate::new(verifier),
        ),
        feed: feed.clone(),
    };

    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(
        server_builder(&config.grpc)
            .layer(ObserveCalls(rpc_metrics))
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(producers)
            .add_service(feed)
            .add_service(webhooks)
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                let _ = stopped.await;
            }),
    );
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
    set_health(&health, ServingStatus::NotServing).await;
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

/// The gRPC server with its limits: what one caller or connection can make it hold.
fn server_builder(grpc: &GrpcConfig) -> tonic::transport::Server {
    let builder = tonic::transport::Server::builder()
        .timeout(Duration::from_millis(grpc.request_timeout_ms))
        .max_concurrent_streams(grpc.max_concurrent_streams)
        .http2_keepalive_interval(Some(Duration::from_secs(grpc.keepalive_interval_secs)))
        .http2_keepalive_timeout(Some(Duration::from_secs(grpc.keepalive_timeout_secs)));
    match grpc.max_connection_age_secs {
        0 => builder,
        age => builder
            .max_connection_age(Duration::from_secs(age))
            // Calls in flight on an aged connection get as long as any call may take.
            .max_connection_age_grace(Duration::from_millis(grpc.request_timeout_ms)),
    }
}

/// What reflection describes: this API, the health service, and `google.rpc`'s error
/// details (so grpcurl can decode the `BadRequest` of an INVALID_ARGUMENT answer).
const REFLECTED: [&[u8]; 3] = [
    proto::FILE_DESCRIPTOR_SET,
    tonic_health::pb::FILE_DESCRIPTOR_SET,
    tonic_types::pb::FILE_DESCRIPTOR_SET,
];

/// Server reflection over [`REFLECTED`] (reflection describes itself too).
fn reflection() -> tonic_reflection::server::Builder<'static> {
    REFLECTED.iter().fold(
        tonic_reflection::server::Builder::configure(),
        |builder, set| builder.register_encoded_file_descriptor_set(set),
    )
}

/// Every (service, method) this server answers: the reflected services and reflection
/// itself, read from their descriptors, and ListEvents at its old address.
fn served_methods() -> Vec<(String, String)> {
    use prost::Message;
    let reflection_sets = [
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    ];
    let mut methods = vec![(PRODUCER_SERVICE.to_owned(), "ListEvents".to_owned())];
    for encoded in REFLECTED.iter().chain(&reflection_sets) {
        let set = prost_types::FileDescriptorSet::decode(*encoded)
            .expect("descriptor sets compiled into the binary decode");
        for file in set.file {
            for service in &file.service {
                let name = format!("{}.{}", file.package(), service.name());
                for method in &service.method {
                    methods.push((name.clone(), method.name().to_owned()));
                }
            }
        }
    }
    methods
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C). The handlers are installed when this is
/// called, not when it is first awaited: a signal that arrives while the server is still
/// starting is kept, and the server drains as soon as it is up.
pub fn termination_signal() -> impl Future<Output = ()> + Send {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    let mut interrupt = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
    async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = interrupt.recv() => {}
        }
    }
}

async fn set_health(health: &HealthReporter, status: ServingStatus) {
    health.set_service_status("", status).await;
    health.set_service_status(PRODUCER_SERVICE, status).await;
    health.set_service_status(FEED_SERVICE, status).await;
}

/// Pings the database every `interval`: SERVING (and ready) while it answers,
/// NOT_SERVING while it does not. Logs each change once.
async fn watch_database(
    db: Database,
    health: HealthReporter,
    ready: Arc<AtomicBool>,
    interval: Duration,
) {
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
            let status = if now_serving {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            set_health(&health, status).await;
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
async fn report_relay(status: Arc<RelayStatus>, health: HealthReporter) {
    let mut previous = None;
    let mut ticks = tokio::time::interval(Duration::from_millis(500));
    loop {
        ticks.tick().await;
        let report = status.report();
        if previous != Some(report.state) {
            tracing::info!(state = ?report.state, backlog = report.backlog, error = ?report.last_error, "event relay state");
            let serving = if status.is_healthy() {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            health.set_service_status(EVENT_RELAY, serving).await;
            previous = Some(report.state);
        }
    }
}
