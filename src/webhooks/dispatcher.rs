//! `webhook-dispatcher`: the events-topic intake and the delivery loop, run together
//! until shutdown. Every replica runs both: one of them (elected) reads the topic, and
//! every one claims deliveries from Postgres.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::delivery::{self, DeliverySettings};
use super::http::{ClientError, Deliverer};
use super::intake::{self, IntakeSettings};
use crate::config::{Config, ConfigError};
use crate::crypto::Protection;
use crate::metrics::dispatcher::DispatcherMetrics;
use crate::metrics::{Metrics, endpoint};
use crate::storage::Database;
use crate::storage::webhook_deliveries;
use crate::storage::webhook_endpoints;
use crate::tasks::AbortOnDrop;

/// Why the dispatcher could not start.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// A setting is missing or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The HTTP client for deliveries could not be built.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The metrics endpoint could not bind its address.
    #[error("metrics.dispatcher_addr: {0}")]
    Metrics(#[from] endpoint::BindError),
}

/// Runs until `shutdown`, then stops consuming (storing offsets) and waits up to
/// `shutdown_grace_secs` for the attempts in flight.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), DispatchError> {
    config.validate_for_dispatching()?;
    let protection = Arc::new(Protection {
        cipher: config.encryption.field_cipher()?,
        hasher: config.encryption.keyed_hasher()?,
    });
    let db = Database::new(&config.database);
    let metrics_listener = endpoint::bind(config.metrics.dispatcher_addr).await?;
    let mut metrics = Metrics::default();
    metrics.register_pool(&db);
    let dispatcher_metrics = DispatcherMetrics::register(&mut metrics);
    let ready = Arc::new(AtomicBool::new(false));
    let is_ready = ready.clone();
    let _metrics_endpoint = AbortOnDrop(tokio::spawn(endpoint::serve(
        metrics_listener,
        Arc::new(metrics),
        Arc::new(move || is_ready.load(Ordering::Relaxed)),
    )));
    let watch = AbortOnDrop(tokio::spawn(watch_backlog(
        db.clone(),
        dispatcher_metrics.clone(),
        ready.clone(),
        config.database.health_interval(),
    )));
    let webhooks = &config.webhooks;
    let timeout = Duration::from_millis(webhooks.delivery_timeout_ms);
    let deliverer = Deliverer::build(timeout, webhooks.into())?;
    let settings = DeliverySettings {
        schedule: webhooks.retry_schedule()?,
        disable_after: chrono::Duration::hours(webhooks.disable_after_hours as i64),
        max_in_flight: webhooks.max_in_flight,
        max_in_flight_per_endpoint: webhooks.max_in_flight_per_endpoint,
        poll_interval: Duration::from_millis(webhooks.poll_interval_ms),
        // Longer than an attempt can take — its timeout, a wait for its endpoint's rate
        // limit, and two waits for a database connection — so a live attempt keeps its
        // claim, while a crashed dispatcher's claims come back after this. (Should one
        // still run over, its outcome is dropped: the lease token no longer matches.)
        lease: timeout * 2 + config.database.connect_timeout() * 2 + Duration::from_secs(5),
        retention: webhooks.retention(),
        metrics: dispatcher_metrics.clone(),
    };
    let intake_settings = IntakeSettings {
        kafka: config.kafka.clone(),
        database_url: config.database.url.clone(),
        metrics: dispatcher_metrics,
    };
    let wake = Arc::new(Notify::new());
    let (stop, stopped) = watch::channel(false);
    // Owned: if this future is dropped (the process is killed, a test aborts it), the
    // intake and the attempts in flight end with it.
    let intake_task = intake::run(intake_settings, wake.clone(), stopped.clone());
    let mut intake = AbortOnDrop(tokio::spawn(intake_task));
    let delivery_task = delivery::run(db, protection, deliverer, settings, wake, stopped);
    let mut delivery = AbortOnDrop(tokio::spawn(delivery_task));
    tracing::info!(topic = %config.kafka.topic, "webhook dispatcher running");
    shutdown.await;
    tracing::info!("shutting down: no new events, finishing attempts in flight");
    drop(watch);
    ready.store(false, Ordering::Relaxed);
    let _ = stop.send(true);
    let grace = tokio::time::Instant::now() + Duration::from_secs(config.shutdown_grace_secs);
    let _ = tokio::time::timeout_at(grace, &mut intake.0).await;
    if tokio::time::timeout_at(grace, &mut delivery.0)
        .await
        .is_err()
    {
        tracing::warn!(
            "grace period over: attempts still in flight are abandoned (their leases expire and they are retried)"
        );
    }
    tracing::info!("stopped");
    Ok(())
}

/// Measures the pending work every `interval` (for metrics); ready while the database
/// answers. Logs each change of readiness once.
async fn watch_backlog(
    db: Database,
    metrics: DispatcherMetrics,
    ready: Arc<AtomicBool>,
    interval: Duration,
) {
    let mut ticks = tokio::time::interval(interval);
    loop {
        ticks.tick().await;
        let measured = db
            .run(|conn| {
                let (pending, oldest_due) = webhook_deliveries::pending_summary(conn)?;
                let disabled = webhook_endpoints::disabled_count(conn)?;
                Ok((pending, oldest_due, disabled))
            })
            .await;
        let now_ready = measured.is_ok();
        match measured {
            Ok((pending, oldest_due, disabled)) => metrics.backlog(pending, oldest_due, disabled),
            Err(error) if ready.load(Ordering::Relaxed) => {
                tracing::warn!(%error, "database unreachable: not ready")
            }
            Err(_) => {}
        }
        if now_ready && !ready.load(Ordering::Relaxed) {
            tracing::info!("database reachable: ready");
        }
        ready.store(now_ready, Ordering::Relaxed);
    }
}
