//! Domain events on Kafka. This module holds the broker connection settings; the outbox
//! relay that publishes through them arrives with the events work.

pub mod kafka;
