//! The Kafka side of the events: client settings from `kafka.*`, the topic (created when
//! missing), and the record an event becomes: keyed by producer id, CloudEvents 1.0
//! binary-mode headers, the protobuf envelope as value.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use crate::config::KafkaConfig;
use crate::storage::outbox::StoredEvent;

/// librdkafka settings for this service's clients: the brokers, then every pass-through
/// property (security, SASL, TLS…) as configured.
pub fn client_config(config: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &config.brokers);
    for (key, value) in &config.properties {
        client.set(key, value);
    }
    client
}

/// The relay's producer: idempotent, acks from all in-sync replicas, so a retry never
/// duplicates or reorders within a partition.
pub fn producer(config: &KafkaConfig) -> Result<FutureProducer, String> {
    let mut client = client_config(config);
    client
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", config.message_timeout_ms.to_string());
    client
        .create()
        .map_err(|e| format!("invalid kafka client settings: {e}"))
}

/// Creates the events topic unless it exists. Blocking on the broker for up to `timeout`.
pub async fn ensure_topic(config: &KafkaConfig, timeout: Duration) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> = client_config(config)
        .create()
        .map_err(|e| format!("invalid kafka client settings: {e}"))?;
    let exists = {
        let metadata = admin
            .inner()
            .fetch_metadata(Some(&config.topic), timeout)
            .map_err(|e| format!("broker {} did not answer: {e}", config.brokers))?;
        metadata
            .topics()
            .iter()
            .any(|t| t.name() == config.topic && t.error().is_none() && !t.partitions().is_empty())
    };
    if exists {
        return Ok(());
    }
    let topic = NewTopic::new(
        &config.topic,
        config.topic_partitions,
        TopicReplication::Fixed(config.topic_replication),
    );
    let results = admin
        .create_topics(
            [&topic],
            &AdminOptions::new().operation_timeout(Some(timeout)),
        )
        .await
        .map_err(|e| format!("creating topic {}: {e}", config.topic))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(format!("creating topic {name}: {code}")),
        }
    }
    tracing::info!(topic = %config.topic, partitions = config.topic_partitions, "created the events topic");
    Ok(())
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
            key: "ce_id",
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
            key: "traceparent",
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
) -> Result<rdkafka::producer::DeliveryFuture, String> {
    let key = event.producer_id.to_string();
    let record = FutureRecord::to(topic)
        .key(&key)
        .payload(&event.payload)
        .headers(headers(event, source));
    producer
        .send_result(record)
        .map_err(|(error, _)| format!("cannot queue event {}: {error}", event.id))
}

/// Waits up to `timeout` for queued messages to be delivered (on shutdown).
pub fn flush(producer: &FutureProducer, timeout: Duration) {
    if let Err(error) = producer.flush(timeout) {
        tracing::warn!(%error, "kafka flush incomplete");
    }
}
