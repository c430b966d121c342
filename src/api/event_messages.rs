//! Domain events as `producerprofile.events.v1.Event` protobuf: the bytes the event log
//! stores, Kafka carries and ListEvents returns. Resources are rendered exactly as API
//! reads without the PII scope: no SSN, bank numbers as `****` + last 4.

use prost::Message;

use super::children::addresses::Addresses;
use super::children::bank_accounts::BankAccounts;
use super::children::insurance_policies::InsurancePolicies;
use super::children::phones::Phones;
use super::children::{ChildResource, Stored};
use super::producer_convert::{producer_message, timestamp};
use super::proto::{events as pb, v1};
use super::update_mask::{FIRM_FIELDS, INDIVIDUAL_FIELDS, copy_firm_field, copy_individual_field};
use crate::domain::Version;
use crate::domain::event::{Action, Change, DomainEvent, EventEncoder, ResourceState};
use crate::domain::producer::{Producer, SsnView};

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
    let mut changed_fields = changed_fields(change);
    for hidden in &change.hidden_changes {
        if !changed_fields.iter().any(|f| f == hidden) {
            changed_fields.push((*hidden).to_owned());
        }
    }
    pb::Event {
        event_id: event.id.to_string(),
        account_id: event.account.as_str().to_owned(),
        producer_id: event.producer_id.to_string(),
        npn: event.npn.as_str().to_owned(),
        sequence: event.sequence.get(),
        occurred_at: Some(timestamp(event.occurred_at)),
        action: action(change.action) as i32,
        changed_fields,
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
            let producer = Some(masked_producer(producer));
            match action {
                Action::Created => P::ProducerCreated(pb::ProducerCreated { producer }),
                Action::Updated => P::ProducerUpdated(pb::ProducerUpdated { producer }),
                Action::Deleted => P::ProducerDeleted(pb::ProducerDeleted { producer }),
            }
        }
        ResourceState::Address(address) => {
            let address = Some(Addresses::message(address, sequence));
            match action {
                Action::Created => P::AddressCreated(pb::AddressCreated { address }),
                Action::Updated => P::AddressUpdated(pb::AddressUpdated { address }),
                Action::Deleted => P::AddressDeleted(pb::AddressDeleted { address }),
            }
        }
        ResourceState::Phone(phone) => {
            let phone = Some(Phones::message(phone, sequence));
            match action {
                Action::Created => P::PhoneCreated(pb::PhoneCreated { phone }),
                Action::Updated => P::PhoneUpdated(pb::PhoneUpdated { phone }),
                Action::Deleted => P::PhoneDeleted(pb::PhoneDeleted { phone }),
            }
        }
        ResourceState::BankAccount(account) => {
            let bank_account = Some(BankAccounts::message(account, sequence));
            match action {
                Action::Created => P::BankAccountCreated(pb::BankAccountCreated { bank_account }),
                Action::Updated => P::BankAccountUpdated(pb::BankAccountUpdated { bank_account }),
                Action::Deleted => P::BankAccountDeleted(pb::BankAccountDeleted { bank_account }),
            }
        }
        ResourceState::InsurancePolicy(policy) => {
            let insurance_policy = Some(InsurancePolicies::message(policy, sequence));
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

fn masked_producer(producer: &Producer) -> v1::Producer {
    producer_message(producer, SsnView::LastFourOnly)
}

/// The fields that differ between the previous and the new state (on created: every
/// field set; on deleted: none). Compared on the full rendering, so a changed SSN is
/// named even though no event shows it.
fn changed_fields(change: &Change) -> Vec<String> {
    if change.action == Action::Deleted {
        return Vec::new();
    }
    match (&change.previous, &change.state) {
        (previous, ResourceState::Producer(after)) => {
            let before = match previous {
                Some(ResourceState::Producer(before)) => Some(before.as_ref()),
                _ => None,
            };
            producer_changes(before, after)
        }
        (previous, ResourceState::Address(after)) => child_changes::<Addresses>(
            match previous {
                Some(ResourceState::Address(before)) => Some(before),
                _ => None,
            },
            after,
        ),
        (previous, ResourceState::Phone(after)) => child_changes::<Phones>(
            match previous {
                Some(ResourceState::Phone(before)) => Some(before),
                _ => None,
            },
            after,
        ),
        (previous, ResourceState::BankAccount(after)) => child_changes::<BankAccounts>(
            match previous {
                Some(ResourceState::BankAccount(before)) => Some(before),
                _ => None,
            },
            after,
        ),
        (previous, ResourceState::InsurancePolicy(after)) => child_changes::<InsurancePolicies>(
            match previous {
                Some(ResourceState::InsurancePolicy(before)) => Some(before),
                _ => None,
            },
            after,
        ),
    }
}

/// The names of `fields` whose value differs between `before` and `after`, found by
/// copying each one over and comparing: the copy functions are the one field list.
fn differing<M: Clone + PartialEq + Default>(
    before: Option<&M>,
    after: &M,
    fields: &[&'static str],
    copy: impl Fn(&mut M, &M, &str),
) -> Vec<&'static str> {
    let before = before.cloned().unwrap_or_default();
    fields
        .iter()
        .copied()
        .filter(|field| {
            let mut probe = before.clone();
            copy(&mut probe, after, field);
            probe != before
        })
        .collect()
}

/// Compared on what a read shows (not on [`ChildResource::merge_base`], which blanks
/// write-only fields such as a bank account's number: a created account's number is a
/// field that is set). A replaced number that kept its last four digits is named
/// through the change's `hidden_changes`.
fn child_changes<R: ChildResource>(before: Option<&Stored<R>>, after: &Stored<R>) -> Vec<String> {
    let after = R::message(after, Version::FIRST);
    let before = before.map(|b| R::message(b, Version::FIRST));
    differing(before.as_ref(), &after, R::UPDATABLE, R::copy_field)
        .into_iter()
        .map(str::to_owned)
        .collect()
}

fn producer_changes(before: Option<&Producer>, after: &Producer) -> Vec<String> {
    use v1::producer::Details;
    let after = producer_message(after, SsnView::Full);
    let before = before.map(|b| producer_message(b, SsnView::Full));
    let mut fields = Vec::new();
    if before.as_ref().is_none_or(|b| b.npn != after.npn) {
        fields.push("npn".to_owned());
    }
    let before_details = before.as_ref().and_then(|b| b.details.as_ref());
    match (before_details, after.details.as_ref()) {
        (None | Some(Details::Individual(_)), Some(Details::Individual(now))) => {
            let was = match before_details {
                Some(Details::Individual(was)) => Some(was),
                _ => None,
            };
            let copy = |t: &mut v1::Individual, s: &v1::Individual, f: &str| {
                let _ = copy_individual_field(t, s, f);
            };
            fields.extend(
                differing(was, now, &INDIVIDUAL_FIELDS, copy)
                    .into_iter()
                    .map(|f| format!("individual.{f}")),
            );
        }
        (None | Some(Details::Firm(_)), Some(Details::Firm(now))) => {
            let was = match before_details {
                Some(Details::Firm(was)) => Some(was),
                _ => None,
            };
            let copy = |t: &mut v1::Firm, s: &v1::Firm, f: &str| {
                let _ = copy_firm_field(t, s, f);
            };
            fields.extend(
                differing(was, now, &FIRM_FIELDS, copy)
                    .into_iter()
                    .map(|f| format!("firm.{f}")),
            );
        }
        // The type changed: the whole other block replaced this one.
        (_, Some(Details::Individual(_))) => fields.push("individual".to_owned()),
        (_, Some(Details::Firm(_))) => fields.push("firm".to_owned()),
        (_, None) => {}
    }
    fields
}
