//! What the four child collections of a producer (addresses, phones, bank accounts,
//! insurance policies) have in common once stored.

use chrono::{DateTime, Utc};

use super::ids::{AccountId, ProducerId, Version};

/// A stored child resource: its id, its producer, its data and its times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child<Id, Data> {
    pub id: Id,
    pub producer_id: ProducerId,
    pub data: Data,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A child read or write result with the producer's version at that moment (after the
/// write, for writes: every child change moves the producer's version on). Clients send
/// it back as the producer etag of their next write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    pub item: T,
    pub producer_version: Version,
}

/// The producer a child write goes to: the caller's account, the producer, and the
/// producer version the caller expects (if it sent an etag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentTarget {
    pub account: AccountId,
    pub producer: ProducerId,
    pub expected: Option<Version>,
}
