//! Domain events on Kafka: the relay that publishes the event log (the transactional
//! outbox) and the Kafka encoding (topic, key, CloudEvents headers).

pub mod kafka;
pub mod messages;
pub mod relay;
