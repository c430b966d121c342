//! Domain events: what changed, placed in its producer's history. Every committed write
//! records one event per resource whose state it changed; the storage layer writes them
//! to the event log (the transactional outbox) in the write's own transaction.

use std::fmt;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::address::Address;
use super::bank_account::BankAccount;
use super::identifiers::Npn;
use super::ids::{AccountId, ProducerId, Version};
use super::insurance_policy::InsurancePolicy;
use super::phone::Phone;
use super::producer::Producer;

/// What a change did to its resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// The resource is new.
    Created,
    /// The resource existed and changed.
    Updated,
    /// The resource is gone; the event carries its last state.
    Deleted,
}

impl Action {
    /// The name in event types: `created`, `updated`, `deleted`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Updated => "updated",
            Action::Deleted => "deleted",
        }
    }
}

/// The kinds of resource events are about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceKind {
    /// A producer's own fields.
    Producer,
    /// One of a producer's addresses.
    Address,
    /// One of a producer's phones.
    Phone,
    /// One of a producer's bank accounts.
    BankAccount,
    /// One of a producer's E&O policies.
    InsurancePolicy,
}

impl ResourceKind {
    /// Every kind, in the order event types are listed.
    pub const ALL: [ResourceKind; 5] = [
        ResourceKind::Producer,
        ResourceKind::Address,
        ResourceKind::Phone,
        ResourceKind::BankAccount,
        ResourceKind::InsurancePolicy,
    ];

    /// The name in event types: `producer`, `bank_account`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ResourceKind::Producer => "producer",
            ResourceKind::Address => "address",
            ResourceKind::Phone => "phone",
            ResourceKind::BankAccount => "bank_account",
            ResourceKind::InsurancePolicy => "insurance_policy",
        }
    }
}

/// An event's type: `producerprofile.{resource}.{action}.v1`, the CloudEvents `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventType {
    /// What the event is about.
    pub resource: ResourceKind,
    /// What happened to it.
    pub action: Action,
}

impl EventType {
    /// Every event type, for validating filters.
    pub fn all() -> impl Iterator<Item = EventType> {
        ResourceKind::ALL.into_iter().flat_map(|resource| {
            [Action::Created, Action::Updated, Action::Deleted]
                .into_iter()
                .map(move |action| EventType { resource, action })
        })
    }

    /// Reads a type name as [`fmt::Display`] writes it.
    pub fn parse(name: &str) -> Option<EventType> {
        Self::all().find(|t| t.to_string() == name)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "producerprofile.{}.{}.v1",
            self.resource.as_str(),
            self.action.as_str()
        )
    }
}

/// A resource as it is after a change (for a delete: as it was last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceState {
    /// A producer's own fields (boxed, to keep the enum small).
    Producer(Box<Producer>),
    /// An address.
    Address(Address),
    /// A phone.
    Phone(Phone),
    /// A bank account (the number's last four digits only).
    BankAccount(BankAccount),
    /// An E&O policy.
    InsurancePolicy(InsurancePolicy),
}

impl ResourceState {
    /// Which kind of resource this is.
    pub fn kind(&self) -> ResourceKind {
        match self {
            ResourceState::Producer(_) => ResourceKind::Producer,
            ResourceState::Address(_) => ResourceKind::Address,
            ResourceState::Phone(_) => ResourceKind::Phone,
            ResourceState::BankAccount(_) => ResourceKind::BankAccount,
            ResourceState::InsurancePolicy(_) => ResourceKind::InsurancePolicy,
        }
    }

    /// The resource's own id: the producer's for a producer, the child's for a child.
    pub fn resource_id(&self) -> Uuid {
        match self {
            ResourceState::Producer(p) => p.id.as_uuid(),
            ResourceState::Address(a) => a.id.as_uuid(),
            ResourceState::Phone(p) => p.id.as_uuid(),
            ResourceState::BankAccount(b) => b.id.as_uuid(),
            ResourceState::InsurancePolicy(i) => i.id.as_uuid(),
        }
    }
}

/// One resource changed by a write. (Which of its fields changed is decided in
/// `domain::changes`: `Change::changed_fields`.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// What the write did to the resource.
    pub action: Action,
    /// The resource after the change; for a delete, as it was last.
    pub state: ResourceState,
    /// The state before an update, to name the changed fields.
    pub previous: Option<ResourceState>,
    /// Fields that changed without showing in either state (a new bank account number
    /// with the same last four digits).
    pub hidden_changes: Vec<&'static str>,
}

impl Change {
    /// A new resource in `state`.
    pub fn created(state: ResourceState) -> Self {
        Self {
            action: Action::Created,
            state,
            previous: None,
            hidden_changes: Vec::new(),
        }
    }

    /// A resource that changed from `previous` to `state`; the pair names the changed
    /// fields.
    pub fn updated(previous: ResourceState, state: ResourceState) -> Self {
        Self {
            action: Action::Updated,
            state,
            previous: Some(previous),
            hidden_changes: Vec::new(),
        }
    }

    /// A resource that is gone, with the state it had last.
    pub fn deleted(last_state: ResourceState) -> Self {
        Self {
            action: Action::Deleted,
            state: last_state,
            previous: None,
            hidden_changes: Vec::new(),
        }
    }

    /// The CloudEvents `type` of this change.
    pub fn event_type(&self) -> EventType {
        EventType {
            resource: self.state.kind(),
            action: self.action,
        }
    }
}

/// A change placed in its producer's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainEvent {
    /// A UUID v7, assigned when the event is appended: consumers deduplicate by it.
    pub id: Uuid,
    /// The tenant of the producer; events never cross accounts.
    pub account: AccountId,
    /// The producer whose history the event is in (also for a child's change).
    pub producer_id: ProducerId,
    /// The producer's NPN at the time, so consumers need not look it up.
    pub npn: Npn,
    /// The producer's version after this change.
    pub sequence: Version,
    /// When the write recorded it, in whole microseconds (as stored). Every event of one
    /// write has the same time.
    pub occurred_at: DateTime<Utc>,
    /// What changed.
    pub change: Change,
}

/// Turns an event into the bytes stored in the event log and published to Kafka.
/// Implemented at the edge (protobuf); the storage layer only calls it.
pub trait EventEncoder: Send + Sync {
    /// The bytes stored and published for `event`.
    fn encode(&self, event: &DomainEvent) -> Vec<u8>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_read_back_from_their_names() {
        let all: Vec<_> = EventType::all().collect();
        assert_eq!(all.len(), 15);
        for event_type in all {
            assert_eq!(EventType::parse(&event_type.to_string()), Some(event_type));
        }
        let address_updated = EventType {
            resource: ResourceKind::Address,
            action: Action::Updated,
        };
        assert_eq!(
            address_updated.to_string(),
            "producerprofile.address.updated.v1"
        );
        assert_eq!(EventType::parse("producerprofile.address.moved.v1"), None);
    }
}
