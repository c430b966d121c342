//! The Kafka side of the events: client settings from `kafka.*`, the topic (created when
//! missing), and the record an event becomes: keyed by producer id, CloudEvents 1.0
//! binary-mode headers, the protobuf envelope as value.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use secrecy::ExposeSecret;

use crate::config::KafkaConfig;
use crate::storage::outbox::StoredEvent;

/// What went wrong with a Kafka client: its settings, the broker, or the task asking it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// librdkafka refused the client settings.
    #[error("invalid kafka client settings: {0}")]
    Settings(#[source] KafkaError),
    /// The brokers did not answer a metadata request in time.
    #[error("broker {0} did not answer: {1}")]
    NoAnswer(String, #[source] KafkaError),
    /// The topic could not be created (the request itself failed).
    #[error("creating topic {0}: {1}")]
    CreateTopic(String, #[source] KafkaError),
    /// The broker refused to create the topic, with this error code.
    #[error("creating topic {0}: {1}")]
    TopicRefused(String, #[source] RDKafkaErrorCode),
    /// The producer's local queue did not take the event (full, or the record is too
    /// large).
    #[error("cannot queue event {0}: {1}")]
    Queue(uuid::Uuid, #[source] KafkaError),
    /// An event was not acknowledged: the broker refused it, or the message timeout
    /// passed.
    #[error("broker refused an event: {0}")]
    Refused(#[source] KafkaError),
    /// The producer was dropped before the event's acknowledgement came.
    #[error("the producer dropped an event")]
    Dropped,
    /// The blocking task that asked the broker failed (`{0}` names what it did).
    #[error("{0} failed: {1}")]
    Task(&'static str, #[source] tokio::task::JoinError),
}

/// librdkafka settings for this service's clients: the brokers, then every pass-through
/// property (security, SASL, TLS…) as configured.
pub fn client_config(config: &KafkaConfig) -> ClientConfig {
    client_config_over(config, &[])
}

/// [`client_config`] over `defaults`: the component's own choices, which
/// `kafka.properties` may still override.
pub fn client_config_over(config: &KafkaConfig, defaults: &[(&str, &str)]) -> ClientConfig {
    let mut client = ClientConfig::new();
    for (key, value) in defaults {
        client.set(*key, *value);
    }
    client.set("bootstrap.servers", &config.brokers);
    for (key, value) in &config.properties {
        client.set(key, value);
    }
    if let Some(password) = &config.sasl_password {
        client.set("sasl.password", password.expose_secret());
    }
    client
}

/// The relay's producer: idempotent, acks from all in-sync replicas, so a retry never
/// duplicates or reorders within a partition.
pub fn producer(config: &KafkaConfig) -> Result<FutureProducer, Error> {
    let mut client = client_config(config);
    client
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", config.message_timeout_ms.to_string());
    if config.single_record_batches {
        client.set("batch.num.messages", "1");
    }
    client.create().map_err(Error::Settings)
}

/// The events topic's partitions (empty while the topic does not exist). Blocking
/// librdkafka calls run on a blocking thread.
pub async fn partitions(config: &KafkaConfig, timeout: Duration) -> Result<Vec<i32>, Error> {
    let config = config.clone();
    tokio::task::spawn_blocking(move || partition_ids(&probe(&config, None)?, &config, timeout))
        .await
        .map_err(|e| Error::Task("metadata request", e))?
        .map(Option::unwrap_or_default)
}

/// A short-lived client that asks about the topic. A consumer-type client: its metadata
/// requests never make a broker auto-create the topic with the broker's own partition
/// count. With a `group` (which `assign` needs; never joined, nothing committed) it can
/// also fetch records.
pub fn probe(config: &KafkaConfig, group: Option<&str>) -> Result<BaseConsumer, Error> {
    let mut settings = client_config(config);
    settings.set("allow.auto.create.topics", "false");
    if let Some(group) = group {
        settings
            .set("group.id", group)
            .set("enable.auto.commit", "false");
    }
    settings.create().map_err(Error::Settings)
}

/// Each listed partition's low and high watermarks (the first offset it still holds,
/// and the offset its next event will get), for the partitions the broker answered for
/// within `timeout` (all of them together); a partition it cannot answer for now (no
/// leader, say) is absent. Blocks.
pub fn watermarks<C: ConsumerContext>(
    probe: &BaseConsumer<C>,
    topic: &str,
    partitions: &[i32],
    timeout: Duration,
) -> HashMap<i32, (i64, i64)> {
    let deadline = std::time::Instant::now() + timeout;
    let mut found = HashMap::new();
    for partition in partitions {
        let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) else {
            break;
        };
        match probe.fetch_watermarks(topic, *partition, left) {
            Ok((low, high)) if low >= 0 && high >= 0 => {
                found.insert(*partition, (low, high));
            }
            Ok(_) => {}
            Err(error) => tracing::debug!(%error, partition, "no watermarks for a partition"),
        }
    }
    found
}

/// The topic's partition ids, `None` when it does not exist. Blocks.
pub fn partition_ids<C: ConsumerContext>(
    probe: &BaseConsumer<C>,
    config: &KafkaConfig,
    timeout: Duration,
) -> Result<Option<Vec<i32>>, Error> {
    let metadata = probe
        .fetch_metadata(Some(&config.topic), timeout)
        .map_err(|e| Error::NoAnswer(config.brokers.clone(), e))?;
    Ok(metadata
        .topics()
        .iter()
        .find(|t| t.name() == config.topic && t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.partitions().iter().map(|p| p.id()).collect()))
}

/// Creates the events topic unless it exists (warning when it exists with another
/// partition count). librdkafka calls block, so this runs on a blocking thread: a broker
/// that does not answer must not stall the async workers serving gRPC.
pub async fn ensure_topic(config: &KafkaConfig, timeout: Duration) -> Result<(), Error> {
    let config = config.clone();
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || ensure_topic_blocking(&config, timeout, &handle))
        .await
        .map_err(|e| Error::Task("topic check", e))?
}

fn ensure_topic_blocking(
    config: &KafkaConfig,
    timeout: Duration,
    handle: &tokio::runtime::Handle,
) -> Result<(), Error> {
    let existing = partition_ids(&probe(config, None)?, config, timeout)?.map(|ids| ids.len());
    if let Some(partitions) = existing {
        if partitions != config.topic_partitions as usize {
            tracing::warn!(
                topic = %config.topic,
                partitions,
                configured = config.topic_partitions,
                "the events topic exists with another partition count"
            );
        }
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> =
        client_config(config).create().map_err(Error::Settings)?;
    let topic = NewTopic::new(
        &config.topic,
        config.topic_partitions,
        TopicReplication::Fixed(config.topic_replication),
    );
    let options = AdminOptions::new().operation_timeout(Some(timeout));
    let results = handle
        .block_on(admin.create_topics([&topic], &options))
        .map_err(|e| Error::CreateTopic(config.topic.clone(), e))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(Error::TopicRefused(name, code)),
        }
    }
    tracing::info!(topic = %config.topic, partitions = config.topic_partitions, "created the events topic");
    Ok(())
}

/// The header carrying the event id.
pub const CE_ID: &str = "ce_id";
/// The header carrying the W3C trace context of the call that caused the event.
pub const TRACEPARENT: &str = "traceparent";

/// A record's header `key`, when present and UTF-8.
pub fn header<'a>(message: &'a impl rdkafka::message::Message, key: &str) -> Option<&'a str> {
    use rdkafka::message::Headers;
    message
        .headers()?
        .iter()
        .find(|header| header.key == key)
        .and_then(|header| header.value)
        .and_then(|value| std::str::from_utf8(value).ok())
}

/// The CloudEvents 1.0 binary-mode headers of an event (plus W3C `traceparent` when the
/// request that caused it carried one).
pub fn headers(event: &StoredEvent, source: &str) -> OwnedHeaders {
    let id = event.id.to_string();
    let subject = event.producer_id.to_string();
    let time = event
        .occurred_at
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let mut headers = OwnedHeaders::new()
        .insert(Header {
            key: "ce_specversion",
            value: Some("1.0"),
        })
        .insert(Header {
            key: CE_ID,
            value: Some(&id),
        })
        .insert(Header {
            key: "ce_type",
            value: Some(&event.event_type),
        })
        .insert(Header {
            key: "ce_source",
            value: Some(source),
        })
        .insert(Header {
            key: "ce_time",
            value: Some(&time),
        })
        .insert(Header {
            key: "ce_subject",
            value: Some(&subject),
        })
        .insert(Header {
            key: "content-type",
            value: Some("application/protobuf"),
        });
    if let Some(traceparent) = &event.traceparent {
        headers = headers.insert(Header {
            key: TRACEPARENT,
            value: Some(traceparent),
        });
    }
    headers
}

/// Hands one event to the producer; the returned future resolves when the broker
/// acknowledged it (or it failed).
pub fn send(
    producer: &FutureProducer,
    topic: &str,
    event: &StoredEvent,
    source: &str,
) -> Result<rdkafka::producer::DeliveryFuture, Error> {
    let key = event.producer_id.to_string();
    let record = FutureRecord::to(topic)
        .key(&key)
        .payload(&event.payload)
        .headers(headers(event, source));
    producer
        .send_result(record)
        .map_err(|(error, _)| Error::Queue(event.id, error))
}

/// Waits up to `timeout` for queued messages to be delivered, then lets the producer go
/// — both block in librdkafka, so on a blocking thread.
pub async fn flush_and_drop(producer: FutureProducer, timeout: Duration) {
    let flushed = tokio::task::spawn_blocking(move || {
        let result = producer.flush(timeout);
        drop(producer);
        result
    })
    .await;
    if let Ok(Err(error)) = flushed {
        tracing::warn!(%error, "kafka flush incomplete");
    }
}
