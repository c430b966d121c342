//! The Kafka client configuration, built from `kafka.*` settings, and a start-up check
//! that the broker answers and the events topic exists.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};

use crate::config::KafkaConfig;

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

/// Asks the broker for the events topic's metadata; the partition count on success.
/// Blocking: run it off the async workers.
pub fn check_topic(config: &KafkaConfig, timeout: Duration) -> Result<usize, String> {
    let producer: BaseProducer = client_config(config)
        .create()
        .map_err(|e| format!("invalid kafka client settings: {e}"))?;
    let metadata = producer
        .client()
        .fetch_metadata(Some(&config.topic), timeout)
        .map_err(|e| format!("broker {} did not answer: {e}", config.brokers))?;
    let topic = metadata
        .topics()
        .iter()
        .find(|t| t.name() == config.topic)
        .ok_or_else(|| format!("topic {} not in the broker's metadata", config.topic))?;
    if let Some(error) = topic.error() {
        return Err(format!("topic {}: {error:?}", config.topic));
    }
    Ok(topic.partitions().len())
}
