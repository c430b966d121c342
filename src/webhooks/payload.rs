//! Webhook bodies: a domain event as the JSON partners receive, compatible with the
//! hosted Producer Profile API — `{id, type, timestamp, data}`, camelCase, with
//! `data.action` (created/updated/deleted) and `data.sequence`. Resources are the
//! masked state the event carries (no SSN, bank numbers as `****` + last 4).

use chrono::SecondsFormat;
use serde_json::{Map, Value, json};

use crate::domain::event::{EventType, ResourceKind};
use crate::domain::webhook::{Delivery, WebhookType};
use crate::proto::{events as ev, v1 as pb};

/// A webhook ready to record: its type and exact body.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// Which webhook type the event becomes: which endpoints receive it.
    pub webhook_type: WebhookType,
    /// The JSON body, exactly as it is signed and sent on every attempt.
    pub body: String,
    /// When the change happened.
    pub occurred_at: chrono::DateTime<chrono::Utc>,
}

/// The webhook for an event, or `None` for an event without a known type or payload.
pub fn webhook_for(event: &ev::Event) -> Option<Webhook> {
    let event_type = EventType::parse(&event.r#type)?;
    let webhook_type = WebhookType::of(event_type);
    let (key, resource) = resource_json(event.payload.as_ref()?);
    let action = match ev::Action::try_from(event.action).ok()? {
        ev::Action::Created => "created",
        ev::Action::Updated => "updated",
        ev::Action::Deleted => "deleted",
        ev::Action::Unspecified => return None,
    };
    let event_id = uuid::Uuid::parse_str(&event.event_id).ok()?;
    let occurred_at = event
        .occurred_at
        .as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))?;
    let timestamp = occurred_at.to_rfc3339_opts(SecondsFormat::Millis, true);
    let mut data = Map::new();
    data.insert("action".into(), json!(action));
    data.insert("sequence".into(), json!(event.sequence));
    data.insert("producerId".into(), json!(event.producer_id));
    data.insert("npn".into(), json!(event.npn));
    data.insert(
        "changedFields".into(),
        json!(
            event
                .changed_fields
                .iter()
                .map(|f| camel_path(f))
                .collect::<Vec<_>>()
        ),
    );
    data.insert(key.into(), resource);
    let body = json!({
        "id": Delivery::webhook_id(event_id),
        "type": webhook_type.to_string(),
        "timestamp": timestamp,
        "data": Value::Object(data),
    });
    Some(Webhook {
        webhook_type,
        body: body.to_string(),
        occurred_at,
    })
}

/// A sample webhook of `webhook_type` for SendTestEvent: made-up values, marked
/// `"test": true`.
pub fn sample(
    webhook_type: WebhookType,
    event_id: uuid::Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> Webhook {
    let action = if webhook_type.deleted {
        "deleted"
    } else {
        "updated"
    };
    let resource = match webhook_type.resource {
        ResourceKind::Producer => (
            "producer",
            json!({"id": "00000000-0000-0000-0000-000000000000", "npn": "1234567", "type": "INDIVIDUAL", "individual": {"firstName": "Sample", "lastName": "Producer", "ssnLast4": "0000"}}),
        ),
        ResourceKind::Address => (
            "address",
            json!({"id": "00000000-0000-0000-0000-000000000001", "type": "MAILING", "preferred": true, "addressLine1": "1 Sample St", "city": "Springfield", "state": "IL", "zip": "62701", "country": "US"}),
        ),
        ResourceKind::Phone => (
            "phone",
            json!({"id": "00000000-0000-0000-0000-000000000002", "number": "+14155550100", "type": "CELL", "preferred": true}),
        ),
        ResourceKind::BankAccount => (
            "bankAccount",
            json!({"id": "00000000-0000-0000-0000-000000000003", "bankName": "Sample Bank", "holderName": "Sample Producer", "routingNumber": "021000021", "number": "****0000", "type": "CHECKING", "primaryAccount": true, "name": "Voided check for Sample Bank Checking Account ****0000"}),
        ),
        ResourceKind::InsurancePolicy => (
            "errorsAndOmissions",
            json!({"id": "00000000-0000-0000-0000-000000000004", "carrier": "Sample Mutual", "policyNumber": "EO-0000", "type": "INDIVIDUAL", "totalLimit": "1000000.00", "effectiveDate": "2026-01-01", "expiry": "2027-01-01", "name": "Sample Mutual: EO-0000"}),
        ),
    };
    let body = json!({
        "id": Delivery::webhook_id(event_id),
        "type": webhook_type.to_string(),
        "timestamp": now.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": {
            "action": action,
            "sequence": 0,
            "producerId": "00000000-0000-0000-0000-000000000000",
            "npn": "1234567",
            "test": true,
            resource.0: resource.1,
        },
    });
    Webhook {
        webhook_type,
        body: body.to_string(),
        occurred_at: now,
    }
}

/// `individual.first_name` → `individual.firstName`.
fn camel_path(path: &str) -> String {
    path.split('.').map(camel).collect::<Vec<_>>().join(".")
}

fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Adds `key: value` unless the value is empty (proto3 "not set").
fn put(object: &mut Map<String, Value>, key: &str, value: impl Into<Value>) {
    let value = value.into();
    let empty = match &value {
        Value::String(s) => s.is_empty(),
        Value::Null => true,
        _ => false,
    };
    if !empty {
        object.insert(key.into(), value);
    }
}

/// An enum value's name without its type prefix: `ADDRESS_TYPE_MAILING` → `MAILING`.
fn enum_name(full: &str, prefix: &str) -> String {
    full.strip_prefix(prefix).unwrap_or(full).to_owned()
}

fn resource_json(payload: &ev::event::Payload) -> (&'static str, Value) {
    use ev::event::Payload as P;
    match payload {
        P::ProducerCreated(ev::ProducerCreated { producer })
        | P::ProducerUpdated(ev::ProducerUpdated { producer })
        | P::ProducerDeleted(ev::ProducerDeleted { producer }) => (
            "producer",
            producer.as_ref().map_or(Value::Null, producer_json),
        ),
        P::AddressCreated(ev::AddressCreated { address })
        | P::AddressUpdated(ev::AddressUpdated { address })
        | P::AddressDeleted(ev::AddressDeleted { address }) => (
            "address",
            address.as_ref().map_or(Value::Null, address_json),
        ),
        P::PhoneCreated(ev::PhoneCreated { phone })
        | P::PhoneUpdated(ev::PhoneUpdated { phone })
        | P::PhoneDeleted(ev::PhoneDeleted { phone }) => {
            ("phone", phone.as_ref().map_or(Value::Null, phone_json))
        }
        P::BankAccountCreated(ev::BankAccountCreated { bank_account })
        | P::BankAccountUpdated(ev::BankAccountUpdated { bank_account })
        | P::BankAccountDeleted(ev::BankAccountDeleted { bank_account }) => (
            "bankAccount",
            bank_account.as_ref().map_or(Value::Null, bank_account_json),
        ),
        P::InsurancePolicyCreated(ev::InsurancePolicyCreated { insurance_policy })
        | P::InsurancePolicyUpdated(ev::InsurancePolicyUpdated { insurance_policy })
        | P::InsurancePolicyDeleted(ev::InsurancePolicyDeleted { insurance_policy }) => (
            "errorsAndOmissions",
            insurance_policy.as_ref().map_or(Value::Null, policy_json),
        ),
    }
}

fn producer_json(p: &pb::Producer) -> Value {
    let mut o = Map::new();
    put(&mut o, "id", p.id.as_str());
    put(&mut o, "npn", p.npn.as_str());
    put(
        &mut o,
        "type",
        enum_name(p.r#type().as_str_name(), "PRODUCER_TYPE_"),
    );
    match &p.details {
        Some(pb::producer::Details::Individual(i)) => {
            let mut d = Map::new();
            put(&mut d, "firstName", i.first_name.as_str());
            put(&mut d, "lastName", i.last_name.as_str());
            put(&mut d, "middleName", i.middle_name.as_str());
            put(&mut d, "suffix", i.suffix.as_str());
            if i.gender != 0 {
                put(
                    &mut d,
                    "gender",
                    enum_name(i.gender().as_str_name(), "GENDER_"),
                );
            }
            put(&mut d, "dateOfBirth", i.date_of_birth.as_str());
            put(&mut d, "ssnLast4", i.ssn_last4.as_str());
            put(&mut d, "finraCrdNumber", i.finra_crd_number.as_str());
            put(&mut d, "primaryEmail", i.primary_email.as_str());
            put(&mut d, "secondaryEmail", i.secondary_email.as_str());
            put(&mut d, "title", i.title.as_str());
            o.insert("individual".into(), Value::Object(d));
        }
        Some(pb::producer::Details::Firm(f)) => {
            let mut d = Map::new();
            put(&mut d, "name", f.name.as_str());
            if f.business_type != 0 {
                put(
                    &mut d,
                    "businessType",
                    enum_name(f.business_type().as_str_name(), "BUSINESS_TYPE_"),
                );
            }
            put(&mut d, "email", f.email.as_str());
            put(&mut d, "fein", f.fein.as_str());
            put(&mut d, "finraCrdNumber", f.finra_crd_number.as_str());
            o.insert("firm".into(), Value::Object(d));
        }
        None => {}
    }
    o.insert("version".into(), json!(p.version));
    Value::Object(o)
}

fn address_json(a: &pb::Address) -> Value {
    let mut o = Map::new();
    put(&mut o, "id", a.id.as_str());
    put(
        &mut o,
        "type",
        enum_name(a.r#type().as_str_name(), "ADDRESS_TYPE_"),
    );
    o.insert("preferred".into(), json!(a.preferred));
    put(&mut o, "addressLine1", a.address_line1.as_str());
    put(&mut o, "addressLine2", a.address_line2.as_str());
    put(&mut o, "city", a.city.as_str());
    put(&mut o, "state", a.state.as_str());
    put(&mut o, "zip", a.zip.as_str());
    put(&mut o, "country", a.country.as_str());
    put(&mut o, "county", a.county.as_str());
    put(&mut o, "moveInDate", a.move_in_date.as_str());
    Value::Object(o)
}

fn phone_json(p: &pb::Phone) -> Value {
    let mut o = Map::new();
    put(&mut o, "id", p.id.as_str());
    put(&mut o, "number", p.number.as_str());
    put(
        &mut o,
        "type",
        enum_name(p.r#type().as_str_name(), "PHONE_TYPE_"),
    );
    put(&mut o, "extension", p.extension.as_str());
    o.insert("preferred".into(), json!(p.preferred));
    Value::Object(o)
}

fn bank_account_json(b: &pb::BankAccount) -> Value {
    let mut o = Map::new();
    put(&mut o, "id", b.id.as_str());
    put(&mut o, "bankName", b.bank_name.as_str());
    put(&mut o, "holderName", b.holder_name.as_str());
    put(&mut o, "routingNumber", b.routing_number.as_str());
    put(&mut o, "number", b.number.as_str());
    put(
        &mut o,
        "type",
        enum_name(b.r#type().as_str_name(), "BANK_ACCOUNT_TYPE_"),
    );
    put(&mut o, "nickname", b.nickname.as_str());
    o.insert("primaryAccount".into(), json!(b.primary_account));
    put(&mut o, "name", b.name.as_str());
    Value::Object(o)
}

fn policy_json(p: &pb::InsurancePolicy) -> Value {
    let mut o = Map::new();
    put(&mut o, "id", p.id.as_str());
    put(&mut o, "carrier", p.carrier.as_str());
    put(&mut o, "policyNumber", p.policy_number.as_str());
    put(&mut o, "certificateNumber", p.certificate_number.as_str());
    put(
        &mut o,
        "type",
        enum_name(p.r#type().as_str_name(), "POLICY_TYPE_"),
    );
    put(&mut o, "totalLimit", p.total_limit.as_str());
    put(&mut o, "effectiveDate", p.effective_date.as_str());
    put(&mut o, "expiry", p.expiry.as_str());
    put(&mut o, "name", p.name.as_str());
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address_event(action: ev::Action, event_type: &str) -> ev::Event {
        ev::Event {
            event_id: "01a22616-f864-7433-be6a-804ae49e358d".into(),
            account_id: "ACME".into(),
            producer_id: "p-1".into(),
            npn: "123".into(),
            sequence: 7,
            occurred_at: Some(prost_types::Timestamp {
                seconds: 1_769_860_800,
                nanos: 5_000_000,
            }),
            action: action as i32,
            changed_fields: vec!["address_line1".into()],
            r#type: event_type.into(),
            payload: Some(ev::event::Payload::AddressCreated(ev::AddressCreated {
                address: Some(pb::Address {
                    id: "a-1".into(),
                    r#type: pb::AddressType::Mailing as i32,
                    address_line1: "1 Main St".into(),
                    city: "Springfield".into(),
                    state: "IL".into(),
                    zip: "62701".into(),
                    country: "US".into(),
                    ..Default::default()
                }),
            })),
        }
    }

    #[test]
    fn an_address_event_becomes_the_hosted_apis_payload() {
        let webhook = webhook_for(&address_event(
            ev::Action::Created,
            "producerprofile.address.created.v1",
        ))
        .unwrap();
        assert_eq!(
            webhook.webhook_type.to_string(),
            "id.producer.address.updated"
        );
        let body: Value = serde_json::from_str(&webhook.body).unwrap();
        assert_eq!(body["id"], "whe_01a22616f8647433be6a804ae49e358d");
        assert_eq!(body["type"], "id.producer.address.updated");
        assert_eq!(body["timestamp"], "2026-01-31T12:00:00.005Z");
        assert_eq!(body["data"]["action"], "created");
        assert_eq!(body["data"]["sequence"], 7);
        assert_eq!(body["data"]["producerId"], "p-1");
        assert_eq!(body["data"]["changedFields"][0], "addressLine1");
        assert_eq!(body["data"]["address"]["addressLine1"], "1 Main St");
        assert_eq!(body["data"]["address"]["type"], "MAILING");
        assert!(
            body["data"]["address"].get("addressLine2").is_none(),
            "unset fields are left out"
        );
    }

    #[test]
    fn samples_exist_for_every_type() {
        for webhook_type in WebhookType::all() {
            let sample = sample(webhook_type, uuid::Uuid::nil(), chrono::Utc::now());
            let body: Value = serde_json::from_str(&sample.body).unwrap();
            assert_eq!(body["type"], webhook_type.to_string());
            assert_eq!(body["data"]["test"], true);
        }
    }

    #[test]
    fn paths_become_camel_case() {
        assert_eq!(camel_path("individual.first_name"), "individual.firstName");
        assert_eq!(camel_path("address_line1"), "addressLine1");
    }
}
