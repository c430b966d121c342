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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Created,
    Updated,
    Deleted,
}

impl Action {
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
    Producer,
    Address,
    Phone,
    BankAccount,
    InsurancePolicy,
}

impl ResourceKind {
    pub const ALL: [ResourceKind; 5] = [
        ResourceKind::Producer,
        ResourceKind::Address,
        ResourceKind::Phone,
        ResourceKind::BankAccount,
        ResourceKind::InsurancePolicy,
    ];

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
    pub resource: ResourceKind,
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
    Producer(Box<Producer>),
    Address(Address),
    Phone(Phone),
    BankAccount(BankAccount),
    InsurancePolicy(InsurancePolicy),
}

impl ResourceState {
    pub fn kind(&self) -> ResourceKind {
        match self {
            ResourceState::Producer(_) => ResourceKind::Producer,
            ResourceState::Address(_) => ResourceKind::Address,
            ResourceState::Phone(_) => ResourceKind::Phone,
            ResourceState::BankAccount(_) => ResourceKind::BankAccount,
            ResourceState::InsurancePolicy(_) => ResourceKind::InsurancePolicy,
        }
    }

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

/// One resource changed by a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub action: Action,
    pub state: ResourceState,
    /// The state before an update, to name the changed fields.
    pub previous: Option<ResourceState>,
    /// Fields that changed without showing in either state (a new bank account number
    /// with the same last four digits).
    pub hidden_changes: Vec<&'static str>,
}

impl Change {
    pub fn created(state: ResourceState) -> Self {
        Self {
            action: Action::Created,
            state,
            previous: None,
            hidden_changes: Vec::new(),
        }
    }

    pub fn updated(previous: ResourceState, state: ResourceState) -> Self {
        Self {
            action: Action::Updated,
            state,
            previous: Some(previous),
            hidden_changes: Vec::new(),
        }
    }

    pub fn deleted(last_state: ResourceState) -> Self {
        Self {
            action: Action::Deleted,
            state: last_state,
            previous: None,
            hidden_changes: Vec::new(),
        }
    }

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
    pub id: Uuid,
    pub account: AccountId,
    pub producer_id: ProducerId,
    pub npn: Npn,
    /// The producer's version after this change.
    pub sequence: Version,
    pub occurred_at: DateTime<Utc>,
    pub change: Change,
}

/// Turns an event into the bytes stored in the event log and published to Kafka.
/// Implemented at the edge (protobuf); the storage layer only calls it.
pub trait EventEncoder: Send + Sync {
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
