//! Domain events as `producerprofile.events.v1.Event` protobuf: the bytes the event log
//! stores, Kafka carries and ListEvents returns. Resources are rendered exactly as API
//! reads without the PII scope: no SSN, bank numbers as `****` + last 4.

use prost::Message;

use crate::domain::Version;
use crate::domain::event::{Action, DomainEvent, EventEncoder, ResourceState};
use crate::domain::producer::SsnView;
use crate::proto::events as pb;
use crate::proto::render;

/// The protobuf [`EventEncoder`].
pub struct ProtobufEvents;

impl EventEncoder for ProtobufEvents {
    fn encode(&self, event: &DomainEvent) -> Vec<u8> {
        event_message(event).encode_to_vec()
    }
}

/// The envelope for one event.
pub fn event_message(event: &DomainEvent) -> pb::Event {
    let change = &event.change;
    pb::Event {
        event_id: event.id.to_string(),
        account_id: event.account.as_str().to_owned(),
        producer_id: event.producer_id.to_string(),
        npn: event.npn.as_str().to_owned(),
        sequence: event.sequence.get(),
        occurred_at: Some(render::timestamp(event.occurred_at)),
        action: action(change.action) as i32,
        changed_fields: change.changed_fields(),
        r#type: change.event_type().to_string(),
        payload: Some(payload(change.action, &change.state, event.sequence)),
    }
}

fn action(action: Action) -> pb::Action {
    match action {
        Action::Created => pb::Action::Created,
        Action::Updated => pb::Action::Updated,
        Action::Deleted => pb::Action::Deleted,
    }
}

/// The typed payload: the resource as a reader without PII scope sees it.
fn payload(action: Action, state: &ResourceState, sequence: Version) -> pb::event::Payload {
    use pb::event::Payload as P;
    match state {
        ResourceState::Producer(producer) => {
            let producer = Some(render::producer(producer, SsnView::LastFourOnly));
            match action {
                Action::Created => P::ProducerCreated(pb::ProducerCreated { producer }),
                Action::Updated => P::ProducerUpdated(pb::ProducerUpdated { producer }),
                Action::Deleted => P::ProducerDeleted(pb::ProducerDeleted { producer }),
            }
        }
        ResourceState::Address(address) => {
            let address = Some(render::address(address, sequence));
            match action {
                Action::Created => P::AddressCreated(pb::AddressCreated { address }),
                Action::Updated => P::AddressUpdated(pb::AddressUpdated { address }),
                Action::Deleted => P::AddressDeleted(pb::AddressDeleted { address }),
            }
        }
        ResourceState::Phone(phone) => {
            let phone = Some(render::phone(phone, sequence));
            match action {
                Action::Created => P::PhoneCreated(pb::PhoneCreated { phone }),
                Action::Updated => P::PhoneUpdated(pb::PhoneUpdated { phone }),
                Action::Deleted => P::PhoneDeleted(pb::PhoneDeleted { phone }),
            }
        }
        ResourceState::BankAccount(account) => {
            let bank_account = Some(render::bank_account(account, sequence));
            match action {
                Action::Created => P::BankAccountCreated(pb::BankAccountCreated { bank_account }),
                Action::Updated => P::BankAccountUpdated(pb::BankAccountUpdated { bank_account }),
                Action::Deleted => P::BankAccountDeleted(pb::BankAccountDeleted { bank_account }),
            }
        }
        ResourceState::InsurancePolicy(policy) => {
            let insurance_policy = Some(render::insurance_policy(policy, sequence));
            match action {
                Action::Created => {
                    P::InsurancePolicyCreated(pb::InsurancePolicyCreated { insurance_policy })
                }
                Action::Updated => {
                    P::InsurancePolicyUpdated(pb::InsurancePolicyUpdated { insurance_policy })
                }
                Action::Deleted => {
                    P::InsurancePolicyDeleted(pb::InsurancePolicyDeleted { insurance_policy })
                }
            }
        }
    }
}
