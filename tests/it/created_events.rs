//! The `created` event of every resource names every field that is set
//! (docs/events.md), in the event log, on Kafka and in the webhook's `changedFields`.
//! "Set" is read off the create request itself: the fields its protobuf encoding
//! carries, named through the descriptors that reflection serves.

use std::collections::BTreeSet;

use prost::Message;
use prost_types::{DescriptorProto, FileDescriptorSet};

use producer_profile::proto::{self, events as ev, v1 as pb};

use crate::support::hooks::{MANAGE, WAIT, deliveries_only, endpoint};
use crate::support::receiver::Receiver;
use crate::support::server::TestDispatcher;
use crate::support::*;

/// The message type named `name` (e.g. `producerprofile.v1.Address`).
fn message_type(name: &str) -> DescriptorProto {
    let set = FileDescriptorSet::decode(proto::FILE_DESCRIPTOR_SET).unwrap();
    set.file
        .iter()
        .flat_map(|file| {
            file.message_type
                .iter()
                .map(move |m| (format!("{}.{}", file.package(), m.name()), m))
        })
        .find(|(full, _)| full == name)
        .map(|(_, m)| m.clone())
        .unwrap_or_else(|| panic!("no message {name} in the descriptors"))
}

/// Reads a varint at `bytes[*at..]`.
fn varint(bytes: &[u8], at: &mut usize) -> u64 {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = bytes[*at];
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
    }
    value
}

/// The paths of the fields present in `encoded` (a `type_name` message); fields of
/// nested messages of the same package (a producer's `individual` block) as
/// `block.field`.
fn set_fields(type_name: &str, encoded: &[u8]) -> BTreeSet<String> {
    let descriptor = message_type(type_name);
    let mut fields = BTreeSet::new();
    let mut at = 0;
    while at < encoded.len() {
        let key = varint(encoded, &mut at);
        let (number, wire_type) = ((key >> 3) as i32, key & 7);
        let field = descriptor
            .field
            .iter()
            .find(|f| f.number() == number)
            .unwrap_or_else(|| panic!("{type_name} has no field {number}"));
        let value = match wire_type {
            0 => {
                varint(encoded, &mut at);
                None
            }
            2 => {
                let len = varint(encoded, &mut at) as usize;
                at += len;
                Some(&encoded[at - len..at])
            }
            1 => {
                at += 8;
                None
            }
            5 => {
                at += 4;
                None
            }
            other => panic!("wire type {other}"),
        };
        let nested = field.type_name().trim_start_matches('.');
        match value {
            Some(bytes) if nested.starts_with("producerprofile.v1.") => {
                for inner in set_fields(nested, bytes) {
                    fields.insert(format!("{}.{inner}", field.name()));
                }
            }
            _ => {
                fields.insert(field.name().to_owned());
            }
        }
    }
    fields
}

/// `first_name` → `firstName`, per path segment. Written here, not taken from
/// `webhooks::payload`: the test checks that conversion, so it must not share it.
fn camel(path: &str) -> String {
    path.split('.')
        .map(|segment| {
            let mut out = String::new();
            let mut upper = false;
            for c in segment.chars() {
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
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// An individual with every field of the block set (the SSN's last four agreeing).
fn complete_individual(npn: &str) -> pb::Producer {
    let mut producer = individual(npn);
    let person = person_mut(&mut producer);
    person.suffix = "Jr.".into();
    person.ssn_last4 = "6789".into();
    person.secondary_email = "ada@home.example".into();
    producer
}

#[tokio::test]
async fn every_created_event_names_every_field_that_is_set() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    endpoint(&mut hooks, &receiver.url, &["id.producer"]).await;
    let dispatcher = TestDispatcher::start(server.config.clone());
    let scopes = "producers:read producers:write producers:pii events:read";
    let mut client = server.client_for("ACME", scopes).await;
    let producer_id = client
        .create_producer(create(complete_individual("1")))
        .await
        .unwrap()
        .into_inner()
        .id;

    // The table: each resource created with every field it has, and its set fields.
    let mut expected: Vec<(&str, BTreeSet<String>)> = Vec::new();
    expected.push((
        "producerprofile.producer.created.v1",
        set_fields(
            "producerprofile.v1.Producer",
            &complete_individual("1").encode_to_vec(),
        ),
    ));
    let firm = firm("2");
    client.create_producer(create(firm.clone())).await.unwrap();
    expected.push((
        "producerprofile.producer.created.v1",
        set_fields("producerprofile.v1.Producer", &firm.encode_to_vec()),
    ));
    let address = pb::Address {
        preferred: true,
        address_line2: "Suite 2".into(),
        country: "US".into(),
        state: "IL".into(),
        county: "Sangamon".into(),
        move_in_date: "2020-01-01".into(),
        ..mailing_address()
    };
    client
        .create_address(pb::CreateAddressRequest {
            producer_id: producer_id.clone(),
            address: Some(address.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    expected.push((
        "producerprofile.address.created.v1",
        set_fields("producerprofile.v1.Address", &address.encode_to_vec()),
    ));
    let phone = pb::Phone {
        number: "+14155550132".into(),
        extension: "12".into(),
        preferred: true,
        ..cell_phone()
    };
    client
        .create_phone(pb::CreatePhoneRequest {
            producer_id: producer_id.clone(),
            phone: Some(phone.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    expected.push((
        "producerprofile.phone.created.v1",
        set_fields("producerprofile.v1.Phone", &phone.encode_to_vec()),
    ));
    let account = pb::BankAccount {
        nickname: "payroll".into(),
        primary_account: true,
        ..checking_account()
    };
    client
        .create_bank_account(pb::CreateBankAccountRequest {
            producer_id: producer_id.clone(),
            bank_account: Some(account.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    expected.push((
        "producerprofile.bank_account.created.v1",
        set_fields("producerprofile.v1.BankAccount", &account.encode_to_vec()),
    ));
    let policy = pb::InsurancePolicy {
        certificate_number: "C-9".into(),
        total_limit: "1000000.00".into(),
        ..eo_policy()
    };
    client
        .create_insurance_policy(pb::CreateInsurancePolicyRequest {
            producer_id: producer_id.clone(),
            insurance_policy: Some(policy.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    expected.push((
        "producerprofile.insurance_policy.created.v1",
        set_fields(
            "producerprofile.v1.InsurancePolicy",
            &policy.encode_to_vec(),
        ),
    ));
    assert!(
        expected[4].1.contains("number"),
        "the table sets the bank account's number"
    );

    let mut feed = server.feed_client("ACME", scopes).await;
    let logged: Vec<ev::Event> = feed
        .list_events(ev::ListEventsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .events;
    let logged: Vec<(&str, BTreeSet<String>)> = logged
        .iter()
        .map(|e| {
            (
                e.r#type.as_str(),
                e.changed_fields.iter().cloned().collect(),
            )
        })
        .collect();
    assert_eq!(
        logged, expected,
        "the event log (and so Kafka) names every set field"
    );

    let webhooks = deliveries_only(
        receiver
            .wait_until(WAIT, "r.len() > expected.len()", |r| {
                r.len() > expected.len()
            })
            .await,
    );
    // Webhooks of different producers may arrive in any order: compare as sorted lists.
    let mut named: Vec<BTreeSet<String>> = webhooks
        .iter()
        .map(|webhook| {
            webhook.json()["data"]["changedFields"]
                .as_array()
                .expect("data.changedFields is a list")
                .iter()
                .map(|f| f.as_str().unwrap().to_owned())
                .collect()
        })
        .collect();
    let mut wanted: Vec<BTreeSet<String>> = expected
        .iter()
        .map(|(_, fields)| fields.iter().map(|f| camel(f)).collect())
        .collect();
    named.sort();
    wanted.sort();
    assert_eq!(
        named, wanted,
        "each webhook's data.changedFields, in camelCase"
    );
    dispatcher.stop().await;
}
