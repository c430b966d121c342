//! What the four child collections of a producer (addresses, phones, bank accounts,
//! insurance policies) have in common: their stored shape, and [`ChildKind`], the types
//! and names every layer shares. Storage adds its statements to a kind
//! (`storage::children::ChildTable`), the API its messages (`api::children::ChildResource`),
//! so the flow around them is written once per layer, not once per collection.

use std::fmt::Display;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::error::InvalidValue;
use super::event::ResourceState;
use super::ids::{AccountId, ProducerId, ResourceId, Version};

/// A stored child resource: its id, its producer, its data and its times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child<Id, Data> {
    /// The child's own id.
    pub id: Id,
    /// The producer it belongs to.
    pub producer_id: ProducerId,
    /// What the client supplied, validated.
    pub data: Data,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A stored child of kind `K`.
pub type Stored<K> = Child<<K as ChildKind>::Id, <K as ChildKind>::Data>;

/// What a child write may carry and never reads back (a bank account's number), and the
/// request field it travels in: a change that replaces it names that field among its
/// hidden changes (the readable state may not show the difference).
pub trait ChildSecret: Send + 'static {
    /// The field it travels in.
    const FIELD: &'static str;
}

/// The secret of a kind that has none: no value of it exists, so such a write can never
/// carry one.
pub type NoSecret = std::convert::Infallible;

impl ChildSecret for NoSecret {
    const FIELD: &'static str = "";
}

/// One kind of child collection.
pub trait ChildKind: Send + Sync + 'static {
    /// The child's id type.
    type Id: ResourceId + FromStr<Err = InvalidValue> + Display + Send + 'static;
    /// The child's readable data.
    type Data: Clone + PartialEq + Send + 'static;
    /// What a write may carry besides the readable data; [`NoSecret`] for kinds
    /// without one.
    type Secret: ChildSecret;

    /// The kind's name in messages: `address`, `bank account`.
    const NAME: &'static str;
    /// The state an event about this child carries.
    fn state(child: Stored<Self>) -> ResourceState;

    /// Whether `data` holds the producer's single flag of this kind (the preferred
    /// address of a type, the preferred phone, the primary bank account): writing it
    /// clears the flag on the sibling that held it.
    fn holds_flag(_data: &Self::Data) -> bool {
        false
    }

    /// The state a sibling had before its flag was cleared, from the state after.
    fn with_flag(data: &Self::Data) -> Self::Data {
        data.clone()
    }
}

/// A child read or write result with the producer's version at that moment (after the
/// write, for writes: every child change moves the producer's version on). Clients send
/// it back as the producer etag of their next write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    /// What was read or written.
    pub item: T,
    /// The producer's version with it.
    pub producer_version: Version,
}

/// The producer a child write goes to: the caller's account, the producer, and the
/// producer version the caller expects (if it sent an etag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentTarget {
    /// The caller's account.
    pub account: AccountId,
    /// The producer.
    pub producer: ProducerId,
    /// The version the caller expects the producer to be at, if it said.
    pub expected: Option<Version>,
}
