//! What the four child collections of a producer (addresses, phones, bank accounts,
//! insurance policies) have in common once stored.

use chrono::{DateTime, Utc};

use super::ids::{ProducerId, Version};

/// A stored child resource: its id, its producer, its data and its times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child<Id, Data> {
    pub id: Id,
    pub producer_id: ProducerId,
    pub data: Data,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The result of a child write: the child as stored, and the producer's version after
/// the write (every child change moves the producer's version on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildWrite<T> {
    pub child: T,
    pub producer_version: Version,
}
