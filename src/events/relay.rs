//! The outbox relay: publishes the event log's unpublished rows to Kafka, in log order,
//! and stamps them published only after the broker acknowledged them.
//!
//! - **Many replicas**: every server runs a relay; a session advisory lock elects the one
//!   that publishes, the others stand by and take over when its connection goes. One
//!   publisher keeps each producer's events in sequence on its partition.
//! - **Claim, publish, mark**: a batch is claimed with `FOR UPDATE SKIP LOCKED` in a
//!   transaction that stays open until every record is acknowledged, then marked and
//!   committed. A failure rolls the batch back; it is published again (at least once:
//!   consumers drop duplicates by event id).
//! - **Woken on commit**: writes `NOTIFY` the relay's channel; it checks for
//!   notifications every few milliseconds (a local read, no query) and falls back to
//!   polling the log every `events.poll_interval_ms`.
//! - **Broker down**: writes keep succeeding; the backlog grows and drains when the
//!   broker returns. The relay's state, backlog size and oldest age are in
//!   [`RelayStatus`] for health, logs and metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use rdkafka::producer::FutureProducer;
use secrecy::SecretString;
use tokio::sync::{Notify, watch};

use super::kafka;
use crate::config::{EventsConfig, KafkaConfig};
use crate::metrics::relay::RelayMetrics;
use crate::storage::outbox;
use crate::storage::request_keys;
use crate::storage::session::{Leader, Role, Session};
use crate::tasks::stopped_within;

/// Advisory lock whose holder is the publishing relay. ("pp-relay")
const RELAY_LOCK: i64 = 0x70_70_2d_72_65_6c_61_79;
/// How often a waiting relay looks for a notification.
const NOTIFICATION_CHECK: Duration = Duration::from_millis(20);
/// How often the backlog is measured and reported.
const BACKLOG_REPORT: Duration = Duration::from_secs(10);
/// How often published events and idempotency keys past their retention are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(600);

/// Everything the relay needs from configuration.
#[derive(Clone)]
pub struct RelaySettings {
    /// Where the relay's own session connects: it holds the election lock.
    pub database_url: SecretString,
    /// The brokers, the topic and the producer's settings.
    pub kafka: KafkaConfig,
    /// Polling, batch size, retention and the CloudEvents `source`.
    pub events: EventsConfig,
    /// How long idempotency keys are kept: the publishing relay forgets older ones, as
    /// it purges old events (one replica's housekeeping).
    pub request_id_retention: chrono::Duration,
    /// Where published events and their delay are counted.
    pub metrics: RelayMetrics,
    /// Signalled when this process commits a write (`Database::committed_writes`): its
    /// events are published at once; other replicas' writes arrive through NOTIFY.
    pub local_writes: Arc<Notify>,
}

pub use crate::metrics::relay::{RelayReport, RelayState, RelayStatus};

/// Why the relay stopped leading (it starts over after a pause), or a batch failed.
#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error("database: {0}")]
    Database(#[from] crate::domain::Error),
    #[error("kafka client: {0}")]
    Kafka(#[source] kafka::Error),
}

/// Runs the relay until `stop` turns true: then it finishes the batch in flight, flushes
/// the producer and returns. Every failure meanwhile is reported in `status`, logged, and
/// retried after a pause.
pub async fn run(settings: RelaySettings, status: Arc<RelayStatus>, stop: watch::Receiver<bool>) {
    let leader = Leader {
        key: RELAY_LOCK,
        database_url: settings.database_url.clone(),
        standby_poll: settings.events.poll_interval(),
        retry_after: settings.events.poll_interval(),
    };
    let mut relay = Relay {
        settings: &settings,
        status: &status,
        last_report: Instant::now(),
    };
    leader.run(&mut relay, stop).await;
    tracing::info!("event relay stopped");
}

/// The relay as the role its [`Leader`] elects.
struct Relay<'a> {
    settings: &'a RelaySettings,
    status: &'a RelayStatus,
    /// When a standing-by relay last measured the backlog.
    last_report: Instant,
}

impl Role for Relay<'_> {
    type Error = RelayError;

    async fn standing_by(&mut self, session: &mut Session, first: bool) -> Result<(), RelayError> {
        if first {
            tracing::info!("event relay standing by: another replica publishes");
        }
        // Standing by or publishing, the backlog is measured every BACKLOG_REPORT (a count
        // over every unpublished row: large exactly when the broker is down).
        if first || self.last_report.elapsed() >= BACKLOG_REPORT {
            report_backlog(session, self.status).await?;
            self.last_report = Instant::now();
        }
        self.status.set_state(RelayState::Standby, None);
        Ok(())
    }

    fn leading(&mut self, leading: bool) {
        if leading {
            tracing::info!("event relay elected: publishing");
        }
    }

    fn interrupted(&mut self, error: RelayError) {
        tracing::warn!(%error, "event relay interrupted; retrying");
        let state = match error {
            RelayError::Database(_) => RelayState::DatabaseUnavailable,
            RelayError::Kafka(_) => RelayState::BrokerUnavailable,
        };
        self.status.set_state(state, Some(error.to_string()));
    }

    async fn lead(
        &mut self,
        session: &mut Session,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), RelayError> {
        lead(
            self.settings,
            self.status,
            &mut self.last_report,
            session,
            stop,
        )
        .await
    }
}

/// Publishes until something fails (`Err`) or it is asked to stop (`Ok`, after
/// publishing what was committed before the stop).
async fn lead(
    settings: &RelaySettings,
    status: &RelayStatus,
    last_report: &mut Instant,
    session: &mut Session,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), RelayError> {
    let poll = settings.events.poll_interval();
    session.run(outbox::listen).await?;
    let mut producer = kafka::producer(&settings.kafka).map_err(RelayError::Kafka)?;
    let mut topic_ready = false;
    let mut last_purge = Instant::now() - PURGE_EVERY;
    status.set_state(RelayState::Publishing, None);
    loop {
        // Asked to stop: publish what is already committed (the drained calls' events),
        // then flush; a broker failure leaves the rest for the next relay.
        let stopping = *stop.borrow();
        if last_report.elapsed() >= BACKLOG_REPORT {
            report_backlog(session, status).await?;
            *last_report = Instant::now();
        }
        if last_purge.elapsed() >= PURGE_EVERY {
            purge_expired(session, settings).await?;
            last_purge = Instant::now();
        }
        if !topic_ready {
            match kafka::ensure_topic(&settings.kafka, Duration::from_secs(5)).await {
                Ok(()) => topic_ready = true,
                Err(error) => {
                    status.set_state(RelayState::BrokerUnavailable, Some(error.to_string()));
                    tracing::warn!(%error, "events topic not ready; retrying");
                    if stopping || stopped_within(stop, poll).await {
                        return Ok(());
                    }
                    continue;
                }
            }
        }
        match publish_batch(session, &producer, settings).await? {
            Published::Count(count) => {
                if count > 0 {
                    status.update(|r| r.published += count as u64);
                }
                status.set_state(RelayState::Publishing, None);
                if count == settings.events.batch_size {
                    continue;
                }
                if stopping {
                    kafka::flush_and_drop(producer, Duration::from_secs(5)).await;
                    return Ok(());
                }
            }
            Published::BrokerFailed(error) => {
                tracing::warn!(%error, "publishing events failed; the batch will be retried");
                status.set_state(RelayState::BrokerUnavailable, Some(error.to_string()));
                // A fresh producer: an idempotent one may be left unusable by timeouts,
                // and the topic may need creating again on a new broker.
                let failed = std::mem::replace(
                    &mut producer,
                    kafka::producer(&settings.kafka).map_err(RelayError::Kafka)?,
                );
                kafka::flush_and_drop(failed, Duration::ZERO).await;
                topic_ready = false;
                if stopping || stopped_within(stop, poll).await {
                    return Ok(());
                }
                continue;
            }
        }
        wait_for_work(session, &settings.local_writes, poll, stop).await?;
    }
}

/// What became of a batch.
enum Published {
    /// This many events were published and marked so (0: nothing was waiting).
    Count(usize),
    /// The broker did not take them all: the batch was rolled back, to be retried.
    BrokerFailed(kafka::Error),
}

/// Claims a batch, publishes it, and marks it published once every record is
/// acknowledged. A broker failure rolls the batch back; a database failure is an error.
async fn publish_batch(
    session: &mut Session,
    producer: &FutureProducer,
    settings: &RelaySettings,
) -> Result<Published, RelayError> {
    let size = settings.events.batch_size;
    let claim = move |conn: &mut _| outbox::claim_unpublished(conn, size);
    let batch = session.claim(claim, outbox::mark_published).await?;
    if batch.rows().is_empty() {
        batch.commit().await?;
        return Ok(Published::Count(0));
    }
    let started = Instant::now();
    let mut deliveries = Vec::with_capacity(batch.rows().len());
    let mut failure = None;
    for event in batch.rows() {
        match kafka::send(
            producer,
            &settings.kafka.topic,
            event,
            &settings.events.source,
        ) {
            Ok(delivery) => deliveries.push(delivery),
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    for delivery in deliveries {
        match delivery.await {
            Ok(Ok(_)) => {}
            Ok(Err((error, _))) => {
                failure.get_or_insert(kafka::Error::Refused(error));
            }
            Err(_) => {
                failure.get_or_insert(kafka::Error::Dropped);
            }
        }
    }
    if let Some(error) = failure {
        batch.rollback().await?;
        return Ok(Published::BrokerFailed(error));
    }
    let published = batch.commit().await?;
    settings
        .metrics
        .published(published.iter().map(|e| e.occurred_at));
    let count = published.len();
    tracing::debug!(count, elapsed = ?started.elapsed(), "events published");
    Ok(Published::Count(count))
}

/// Waits until a write commits events (a write of this process signals `local_writes`,
/// a notification arrives from another replica's), `poll` passes, or the relay is asked
/// to stop.
async fn wait_for_work(
    session: &mut Session,
    local_writes: &Notify,
    poll: Duration,
    stop: &watch::Receiver<bool>,
) -> Result<(), RelayError> {
    let deadline = Instant::now() + poll;
    let local = local_writes.notified();
    tokio::pin!(local);
    while Instant::now() < deadline && !*stop.borrow() {
        if session.run(outbox::notified).await? {
            return Ok(());
        }
        tokio::select! {
            () = &mut local => return Ok(()),
            () = tokio::time::sleep(NOTIFICATION_CHECK) => {}
        }
    }
    Ok(())
}

/// Measures the backlog into `status`, and warns while old events wait.
async fn report_backlog(session: &mut Session, status: &RelayStatus) -> Result<(), RelayError> {
    let (backlog, oldest) = session.run(outbox::backlog).await?;
    status.update(|r| {
        r.backlog = backlog;
        r.oldest_unpublished = oldest;
    });
    if let Some(oldest) = oldest {
        let age = Utc::now() - oldest;
        if age > chrono::Duration::seconds(30) {
            tracing::warn!(
                backlog,
                oldest_age_secs = age.num_seconds(),
                "events are waiting to be published"
            );
        }
    }
    Ok(())
}

/// Deletes published events and idempotency keys past their retention, a bounded batch
/// at a time.
async fn purge_expired(session: &mut Session, settings: &RelaySettings) -> Result<(), RelayError> {
    let events_cutoff = Utc::now() - settings.events.retention();
    let keys_cutoff = Utc::now() - settings.request_id_retention;
    let (events, keys) = session
        .run(move |conn| {
            let events =
                in_batches(|limit| outbox::purge_published_before(conn, events_cutoff, limit))?;
            let keys = in_batches(|limit| request_keys::purge_before(conn, keys_cutoff, limit))?;
            Ok((events, keys))
        })
        .await?;
    if events > 0 {
        tracing::info!(purged = events, "deleted events past their retention");
    }
    if keys > 0 {
        tracing::info!(purged = keys, "forgot request ids past their retention");
    }
    Ok(())
}

/// Runs `purge` with batches of 10,000 until one deletes fewer; the total.
fn in_batches(
    mut purge: impl FnMut(i64) -> Result<usize, crate::domain::Error>,
) -> Result<usize, crate::domain::Error> {
    const BATCH: i64 = 10_000;
    let mut total = 0;
    loop {
        let deleted = purge(BATCH)?;
        total += deleted;
        if deleted < BATCH as usize {
            return Ok(total);
        }
    }
}
