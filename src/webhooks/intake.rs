//! From the events topic to recorded deliveries: each event becomes one delivery per
//! subscribed endpoint.
//!
//! One dispatcher replica at a time reads the topic — elected by a Postgres advisory
//! lock, which Postgres releases the moment the holder's connection ends, however it
//! died — while every replica delivers. The events of one read (all those already
//! fetched, up to a few hundred), their deliveries and their partitions' new positions
//! are written in one transaction, so a restart or a takeover resumes exactly after the
//! last recorded event: none lost, none recorded twice. No broker consumer
//! group is involved: a member that crashed mid-rebalance cannot stall the intake.
//! ([`super::positions`] checks that the topic still holds what the positions point
//! past.)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prost::Message as _;
use rdkafka::ClientContext;
use rdkafka::consumer::{ConsumerContext, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::statistics::Statistics;
use ring::digest;
use secrecy::SecretString;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use super::payload::webhook_for;
use super::positions::{INTAKE_GROUP, Positions, assign_partitions, event_id_of};
use crate::config::KafkaConfig;
use crate::domain::Error;
use crate::events::kafka::{self, client_config_over};
use crate::metrics::dispatcher::DispatcherMetrics;
use crate::proto::events as ev;
use crate::storage::intake_offsets::{self, Position};
use crate::storage::session::{Leader, Role, Session};
use crate::storage::webhook_deliveries::{self, EventToDeliver, IntakeRecord};

/// How often a standing-by replica tries to take over the intake.
const STANDBY_POLL: Duration = Duration::from_secs(2);
/// How often the leader looks for partitions added to the topic, and checks that the
/// topic still holds what its positions point past.
const PARTITION_CHECK: Duration = Duration::from_secs(30);
/// How long a failed intake waits before it starts again.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How often librdkafka reports statistics (the lag metric's resolution).
const STATISTICS_INTERVAL_MS: &str = "5000";

/// What the intake needs.
pub struct IntakeSettings {
    /// The brokers and the events topic to read.
    pub kafka: KafkaConfig,
    /// Where the intake's own session connects: it holds the election lock.
    pub database_url: SecretString,
    /// Where recorded deliveries and the consumer lag are counted.
    pub metrics: DispatcherMetrics,
}

/// Reads librdkafka's periodic statistics for the lag metric: per partition, the events
/// after the recorded position.
pub struct LagReporter {
    topic: String,
    positions: Positions,
    metrics: DispatcherMetrics,
}

impl ClientContext for LagReporter {
    fn stats(&self, statistics: Statistics) {
        // Without the topic in the statistics (the broker unreachable, say) the lag is
        // unknown: the last value stands rather than a reassuring 0.
        let Some(topic) = statistics.topics.get(&self.topic) else {
            return;
        };
        let positions = self.positions.lock().unwrap_or_else(|e| e.into_inner());
        let lag = topic
            .partitions
            .values()
            .filter(|p| p.partition >= 0 && p.hi_offset >= 0)
            .map(|p| {
                let position = positions
                    .get(&p.partition)
                    .map_or(p.lo_offset, |position| position.next_offset);
                (p.hi_offset - position).max(0)
            })
            .sum();
        self.metrics.consumer_lag(lag);
    }
}

impl ConsumerContext for LagReporter {}

/// Reads the topic while this replica leads the intake, until `stop`. Any failure
/// (database, broker) ends the lead; it is retried after a pause, and resumes from the
/// recorded positions.
pub async fn run(settings: IntakeSettings, wake: Arc<Notify>, stop: watch::Receiver<bool>) {
    // Started before the server (or against a fresh cluster), the dispatcher creates the
    // topic rather than wait for it — here, so a broker that is down holds up only the
    // intake, not the deliveries already waiting in Postgres. Idempotent; not fatal.
    if let Err(error) = kafka::ensure_topic(&settings.kafka, Duration::from_secs(5)).await {
        tracing::warn!(%error, "events topic not ready yet; the intake keeps trying");
    }
    let leader = Leader {
        key: intake_lock(&settings.kafka.topic),
        database_url: settings.database_url.clone(),
        standby_poll: STANDBY_POLL,
        retry_after: RETRY_AFTER,
    };
    let mut intake = Intake {
        settings: &settings,
        wake: &wake,
    };
    leader.run(&mut intake, stop).await;
    tracing::info!("webhook intake stopped");
}

/// The intake as the role its [`Leader`] elects.
struct Intake<'a> {
    settings: &'a IntakeSettings,
    wake: &'a Notify,
}

impl Role for Intake<'_> {
    type Error = Error;

    async fn standing_by(&mut self, _: &mut Session, first: bool) -> Result<(), Error> {
        if first {
            tracing::info!("webhook intake standing by: another dispatcher reads the topic");
        }
        Ok(())
    }

    fn leading(&mut self, leading: bool) {
        if leading {
            let topic = &self.settings.kafka.topic;
            tracing::info!(%topic, "webhook intake elected: reading the events topic");
        }
        self.settings.metrics.intake_leader(leading);
    }

    fn interrupted(&mut self, error: Error) {
        tracing::warn!(%error, "webhook intake interrupted; retrying");
    }

    async fn lead(
        &mut self,
        session: &mut Session,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), Error> {
        lead(self.settings, self.wake, session, stop).await
    }
}

/// Records events until stopped or something fails.
async fn lead(
    settings: &IntakeSettings,
    wake: &Notify,
    session: &mut Session,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), Error> {
    let topic = settings.kafka.topic.clone();
    let stored = {
        let topic = topic.clone();
        session
            .run(move |conn| intake_offsets::positions(conn, &topic))
            .await?
    };
    let positions: Positions = Arc::new(Mutex::new(stored));
    let consumer = consumer(&settings.kafka, settings.metrics.clone(), positions.clone())?;
    let mut assigned: Vec<i32> = Vec::new();
    let mut next_check = Instant::now();
    loop {
        if Instant::now() >= next_check {
            // It asks the broker (seconds, while it is down): a stop does not wait for it.
            // Left half-way, nothing is lost: the next lead reads the stored positions.
            tokio::select! {
                checked = assign_partitions(
                    &consumer,
                    &settings.kafka,
                    session,
                    &positions,
                    &mut assigned,
                ) => checked?,
                _ = stop.changed() => return Ok(()),
            }
            // Until the topic exists (the broker may still be starting), look again soon.
            let wait = if assigned.is_empty() {
                STANDBY_POLL
            } else {
                PARTITION_CHECK
            };
            next_check = Instant::now() + wait;
        }
        let message = tokio::select! {
            message = consumer.recv() => message,
            _ = tokio::time::sleep_until(next_check) => continue,
            _ = stop.changed() => return Ok(()),
        };
        let message = match message {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(%error, "events topic read failed; retrying");
                if tokio::time::timeout(RETRY_AFTER, stop.changed())
                    .await
                    .is_ok()
                {
                    return Ok(());
                }
                continue;
            }
        };
        // With the records already fetched behind it: one transaction for them all.
        let mut read = vec![message];
        while read.len() < INTAKE_BATCH {
            match tokio::time::timeout(Duration::ZERO, consumer.recv()).await {
                Ok(Ok(more)) => read.push(more),
                // None ready now, or a read error: the next read reports what is still wrong.
                _ => break,
            }
        }
        let records: Vec<IntakeRecord> = read.iter().map(intake_record).collect();
        let moved: Vec<(i32, Position)> = records
            .iter()
            .map(|record| (record.partition, record.position))
            .collect();
        let recorded = record(session, &topic, records).await?;
        positions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(moved);
        if recorded > 0 {
            settings.metrics.recorded(recorded);
            wake.notify_one();
        }
    }
}

/// The advisory lock whose holder reads `topic`: one per topic, so deployments sharing a
/// database with other topics do not wait for each other.
fn intake_lock(topic: &str) -> i64 {
    let hash = digest::digest(
        &digest::SHA256,
        format!("webhook-intake:{topic}").as_bytes(),
    );
    let mut key = [0u8; 8];
    key.copy_from_slice(&hash.as_ref()[..8]);
    i64::from_be_bytes(key)
}

/// The intake's fetch settings, chosen for latency (a webhook should leave within tens of
/// milliseconds of its commit) over fewer fetches; `kafka.properties` overrides them.
/// librdkafka's default `fetch.wait.max.ms` of 500 lets a broker hold an empty fetch
/// that long, and some brokers (the local tansu) pause about half of it after every
/// fetch, even one that returned data: 10 ms keeps a waiting event's delay to about
/// that, for a few more small fetch requests a second while the topic is idle.
const LOW_LATENCY_FETCH: &[(&str, &str)] = &[
    ("fetch.wait.max.ms", "10"),
    // Answer as soon as one byte is there: a single event is worth sending on.
    ("fetch.min.bytes", "1"),
];

/// A consumer that reads only the partitions it is given (no consumer group).
fn consumer(
    kafka: &KafkaConfig,
    metrics: DispatcherMetrics,
    positions: Positions,
) -> Result<StreamConsumer<LagReporter>, Error> {
    let context = LagReporter {
        topic: kafka.topic.clone(),
        positions,
        metrics,
    };
    client_config_over(kafka, LOW_LATENCY_FETCH)
        .set("group.id", INTAKE_GROUP)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // A recorded position the topic no longer holds (retention passed it): from the
        // oldest event still there.
        .set("auto.offset.reset", "earliest")
        .set("statistics.interval.ms", STATISTICS_INTERVAL_MS)
        .create_with_context(context)
        .map_err(|e| Error::Unavailable(format!("invalid kafka consumer settings: {e}")))
}

/// Most records read from the topic recorded in one transaction.
const INTAKE_BATCH: usize = 256;

/// A record read from the topic, as what it becomes: its deliveries (if it can have any)
/// and its partition's position after it.
fn intake_record(message: &BorrowedMessage<'_>) -> IntakeRecord {
    IntakeRecord {
        partition: message.partition(),
        position: Position {
            next_offset: message.offset() + 1,
            last_event_id: event_id_of(message),
        },
        event: message
            .payload()
            .and_then(|bytes| deliveries_of(bytes, message)),
    }
}

/// Records the deliveries of the records read together and their partitions' new
/// positions, in one transaction; how many deliveries were new.
async fn record(
    session: &mut Session,
    topic: &str,
    records: Vec<IntakeRecord>,
) -> Result<usize, Error> {
    let topic = topic.to_owned();
    session
        .run(move |conn| webhook_deliveries::record_intake(conn, &topic, &records))
        .await
}

/// The event in a record, when it can become webhooks.
fn deliveries_of(bytes: &[u8], message: &BorrowedMessage<'_>) -> Option<EventToDeliver> {
    let event = match ev::Event::decode(bytes) {
        Ok(event) => event,
        Err(error) => {
            // Not an event: nothing can ever be delivered from it.
            tracing::error!(%error, offset = message.offset(), "skipping an undecodable record");
            return None;
        }
    };
    let Some(webhook) = webhook_for(&event) else {
        tracing::warn!(event_id = %event.event_id, event_type = %event.r#type, "skipping an event without a webhook type");
        return None;
    };
    let (Ok(event_id), Ok(producer_id)) = (
        uuid::Uuid::parse_str(&event.event_id),
        uuid::Uuid::parse_str(&event.producer_id),
    ) else {
        tracing::error!(event_id = %event.event_id, "skipping an event with malformed ids");
        return None;
    };
    let traceparent = kafka::header(message, kafka::TRACEPARENT).map(str::to_owned);
    Some(EventToDeliver {
        account: event.account_id,
        webhook_type: webhook.webhook_type,
        occurred_at: webhook.occurred_at,
        body: webhook.body,
        event_id,
        producer_id,
        sequence: event.sequence,
        traceparent,
    })
}
