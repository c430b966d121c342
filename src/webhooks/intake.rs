//! From the events topic to recorded deliveries: each event becomes one delivery per
//! subscribed endpoint, recorded durably in Postgres before the consumer stores the
//! event's offset (at least once; the unique (event, endpoint) key makes a re-read
//! record nothing twice).

use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use rdkafka::ClientContext;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::statistics::Statistics;
use tokio::sync::{Notify, watch};

use super::payload::webhook_for;
use crate::api::proto::events as ev;
use crate::config::{KafkaConfig, WebhooksConfig};
use crate::domain::Error;
use crate::events::kafka::client_config;
use crate::metrics::dispatcher::DispatcherMetrics;
use crate::storage::Database;
use crate::storage::webhook_deliveries::{self, NewDelivery};
use crate::storage::webhook_endpoints;

/// The consumer of the events topic, reporting its lag.
pub type EventConsumer = StreamConsumer<LagReporter>;

/// Reads librdkafka's periodic statistics for the consumer lag metric: per assigned
/// partition, the events after the last stored offset (not yet recorded as deliveries).
pub struct LagReporter {
    topic: String,
    metrics: DispatcherMetrics,
}

impl ClientContext for LagReporter {
    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else {
            return;
        };
        let lag = topic
            .partitions
            .values()
            .filter(|p| p.partition >= 0 && p.consumer_lag_stored >= 0)
            .map(|p| p.consumer_lag_stored)
            .sum();
        self.metrics.consumer_lag(lag);
    }
}

impl ConsumerContext for LagReporter {}

/// How often librdkafka reports statistics (the lag metric's resolution).
const STATISTICS_INTERVAL_MS: &str = "5000";

/// The consumer, subscribed to the events topic in the dispatchers' group. Offsets are
/// stored by hand, after the deliveries are recorded, and committed in the background.
pub fn consumer(
    kafka: &KafkaConfig,
    webhooks: &WebhooksConfig,
    metrics: DispatcherMetrics,
) -> Result<EventConsumer, String> {
    let context = LagReporter {
        topic: kafka.topic.clone(),
        metrics,
    };
    let consumer: EventConsumer = client_config(kafka)
        .set("group.id", &webhooks.consumer_group)
        .set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("statistics.interval.ms", STATISTICS_INTERVAL_MS)
        .create_with_context(context)
        .map_err(|e| format!("invalid kafka consumer settings: {e}"))?;
    consumer
        .subscribe(&[&kafka.topic])
        .map_err(|e| format!("cannot subscribe to {}: {e}", kafka.topic))?;
    Ok(consumer)
}

/// Consumes until `stop`, recording deliveries and waking the delivery loop. A database
/// failure retries the same event (its offset is not stored until it is recorded).
pub async fn run(
    consumer: EventConsumer,
    db: Database,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let message = tokio::select! {
            message = consumer.recv() => message,
            _ = stop.changed() => break,
        };
        let message = match message {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(%error, "events topic read failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        loop {
            match record(&db, &message).await {
                Ok(recorded) => {
                    if recorded > 0 {
                        consumer.context().metrics.recorded(recorded);
                        wake.notify_one();
                    }
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "recording deliveries failed; retrying the event");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stop.changed() => {
                            commit(&consumer);
                            return;
                        }
                    }
                }
            }
        }
        if let Err(error) = consumer.store_offset_from_message(&message) {
            tracing::warn!(%error, "storing the event's offset failed");
        }
    }
    commit(&consumer);
    tracing::info!("webhook intake stopped");
}

/// Commits the stored offsets now (on stop), so a successor resumes exactly there.
fn commit(consumer: &EventConsumer) {
    if let Err(error) = consumer.commit_consumer_state(CommitMode::Sync) {
        tracing::debug!(%error, "offset commit on stop");
    }
}

/// Records the deliveries of one event; how many were new.
async fn record(db: &Database, message: &BorrowedMessage<'_>) -> Result<usize, Error> {
    let Some(bytes) = message.payload() else {
        return Ok(0);
    };
    let event = match ev::Event::decode(bytes) {
        Ok(event) => event,
        Err(error) => {
            // Not an event: nothing can ever be delivered from it.
            tracing::error!(%error, offset = message.offset(), "skipping an undecodable record");
            return Ok(0);
        }
    };
    let Some(webhook) = webhook_for(&event) else {
        tracing::warn!(event_id = %event.event_id, event_type = %event.r#type, "skipping an event without a webhook type");
        return Ok(0);
    };
    let (Ok(event_id), Ok(producer_id)) = (
        uuid::Uuid::parse_str(&event.event_id),
        uuid::Uuid::parse_str(&event.producer_id),
    ) else {
        tracing::error!(event_id = %event.event_id, "skipping an event with malformed ids");
        return Ok(0);
    };
    let traceparent = message.headers().and_then(|headers| {
        use rdkafka::message::Headers;
        headers
            .iter()
            .find(|h| h.key == "traceparent")
            .and_then(|h| h.value)
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::to_owned)
    });
    let occurred_at = webhook.occurred_at;
    let account = event.account_id.clone();
    db.run(move |conn| {
        let endpoints =
            webhook_endpoints::subscribed(conn, &account, webhook.webhook_type, occurred_at)?;
        let deliveries: Vec<NewDelivery> = endpoints
            .into_iter()
            .map(|endpoint| NewDelivery {
                endpoint_id: endpoint.id,
                failed: !endpoint.enabled,
                event_id,
                producer_id,
                sequence: event.sequence,
                webhook_type: webhook.webhook_type.to_string(),
                body: webhook.body.clone(),
                traceparent: traceparent.clone(),
            })
            .collect();
        webhook_deliveries::record(conn, &account, &deliveries)
    })
    .await
}
