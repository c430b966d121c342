//! Domain events: each write publishes exactly its events to Kafka (CloudEvents headers,
//! keyed by producer, contiguous sequences, masked payloads); failed writes publish
//! nothing; the broker can go away; two relays publish each event once; the feed.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

use producer_profile::api::proto::{events as ev, v1 as pb};

use crate::support::kafka::{self, Broker, Record};
use crate::support::server::{Client, test_config};
use crate::support::*;

const WAIT: Duration = Duration::from_secs(20);

async fn published(server: &TestServer, count: usize) -> Vec<Record> {
    kafka::read(
        &server.config.kafka.brokers,
        &server.config.kafka.topic,
        count,
        WAIT,
    )
    .await
}

fn types(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| r.event.r#type.clone()).collect()
}

/// A run of writes touching every kind of resource; returns the producer id.
async fn every_kind_of_write(client: &mut Client) -> String {
    let producer = client
        .create_producer(create(individual("1")))
        .await
        .unwrap()
        .into_inner();
    let id = producer.id.clone();
    client.update_producer(change_npn(&id, "2")).await.unwrap();
    let add = |address: pb::Address| pb::CreateAddressRequest {
        producer_id: id.clone(),
        address: Some(address),
        ..Default::default()
    };
    client
        .create_address(add(pb::Address {
            preferred: true,
            ..mailing_address()
        }))
        .await
        .unwrap();
    client
        .create_address(add(pb::Address {
            preferred: true,
            city: "Peoria".into(),
            ..mailing_address()
        }))
        .await
        .unwrap();
    client
        .create_phone(pb::CreatePhoneRequest {
            producer_id: id.clone(),
            phone: Some(cell_phone()),
            ..Default::default()
        })
        .await
        .unwrap();
    let account = client
        .create_bank_account(pb::CreateBankAccountRequest {
            producer_id: id.clone(),
            bank_account: Some(checking_account()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    client
        .update_bank_account(pb::UpdateBankAccountRequest {
            producer_id: id.clone(),
            bank_account_id: account.id,
            bank_account: Some(pb::BankAccount {
                number: "55556789".into(),
                ..Default::default()
            }),
            update_mask: update_mask(&["number"]),
            producer_etag: String::new(),
        })
        .await
        .unwrap();
    let policy = client
        .create_insurance_policy(pb::CreateInsurancePolicyRequest {
            producer_id: id.clone(),
            insurance_policy: Some(eo_policy()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    client
        .delete_insurance_policy(pb::DeleteInsurancePolicyRequest {
            producer_id: id.clone(),
            insurance_policy_id: policy.id,
            producer_etag: String::new(),
        })
        .await
        .unwrap();
    client
        .delete_producer(pb::DeleteProducerRequest {
            id: id.clone(),
            etag: String::new(),
        })
        .await
        .unwrap();
    id
}

/// The events [`every_kind_of_write`] must produce, in order.
const EXPECTED: [&str; 15] = [
    "producerprofile.producer.created.v1",
    "producerprofile.producer.updated.v1",
    "producerprofile.address.created.v1",
    "producerprofile.address.created.v1",
    "producerprofile.address.updated.v1", // the first address loses "preferred"
    "producerprofile.phone.created.v1",
    "producerprofile.bank_account.created.v1",
    "producerprofile.bank_account.updated.v1",
    "producerprofile.insurance_policy.created.v1",
    "producerprofile.insurance_policy.deleted.v1",
    "producerprofile.address.deleted.v1", // the producer's delete: children first
    "producerprofile.address.deleted.v1",
    "producerprofile.phone.deleted.v1",
    "producerprofile.bank_account.deleted.v1",
    "producerprofile.producer.deleted.v1",
];

#[tokio::test]
async fn every_write_publishes_exactly_its_events_with_cloudevents_headers() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let producer = every_kind_of_write(&mut client).await;

    let records = published(&server, EXPECTED.len()).await;
    assert_eq!(
        types(&records),
        EXPECTED,
        "exactly the expected events, in order"
    );
    let sequences: Vec<i64> = records.iter().map(|r| r.event.sequence).collect();
    assert_eq!(
        sequences,
        (1..=EXPECTED.len() as i64).collect::<Vec<_>>(),
        "contiguous"
    );
    let partitions: HashSet<i32> = records.iter().map(|r| r.partition).collect();
    assert_eq!(partitions.len(), 1, "one producer, one partition");

    for record in &records {
        let event = &record.event;
        assert_eq!(record.key, producer);
        assert_eq!(
            (event.producer_id.as_str(), event.account_id.as_str()),
            (producer.as_str(), "ACME")
        );
        let h = &record.headers;
        assert_eq!(h["ce_specversion"], "1.0");
        assert_eq!(h["ce_id"], event.event_id);
        assert_eq!(h["ce_type"], event.r#type);
        assert_eq!(h["ce_subject"], producer);
        assert_eq!(h["ce_source"], "urn:producer-profile");
        assert!(chrono::DateTime::parse_from_rfc3339(&h["ce_time"]).is_ok());
        assert_eq!(h["content-type"], "application/protobuf");
        assert!(!h.contains_key("traceparent"), "no trace context was sent");
    }

    // Payloads and changed fields.
    let created = &records[0].event;
    let Some(ev::event::Payload::ProducerCreated(ev::ProducerCreated {
        producer: Some(snapshot),
    })) = &created.payload
    else {
        panic!("a ProducerCreated payload: {created:?}")
    };
    assert_eq!(
        person(snapshot).ssn,
        "",
        "masked as for a reader without PII"
    );
    assert_eq!(person(snapshot).ssn_last4, "6789");
    assert!(
        created
            .changed_fields
            .contains(&"individual.ssn".to_owned())
    );
    assert_eq!(records[1].event.changed_fields, ["npn"]);
    assert_eq!(records[1].event.npn, "2");
    assert_eq!(records[4].event.changed_fields, ["preferred"]);
    assert_eq!(
        records[7].event.changed_fields,
        ["number"],
        "a new number with the same last four"
    );
    let Some(ev::event::Payload::BankAccountUpdated(ev::BankAccountUpdated {
        bank_account: Some(account),
    })) = &records[7].event.payload
    else {
        panic!("a BankAccountUpdated payload")
    };
    assert_eq!(account.number, "****6789");
    assert!(records[14].event.changed_fields.is_empty());

    for record in &records {
        let raw = String::from_utf8_lossy(&record.raw);
        for secret in ["123456789", "123-45-6789", "000123456789", "55556789"] {
            assert!(
                !raw.contains(secret),
                "{secret} in the bytes of {}",
                record.event.r#type
            );
        }
    }
}

#[tokio::test]
async fn a_failed_write_publishes_nothing() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let first = client
        .create_producer(create(individual("1")))
        .await
        .unwrap()
        .into_inner();
    // Each of these fails after parsing, inside or before its transaction.
    client.create_producer(create(firm("1"))).await.unwrap_err();
    let mut stale = change_npn(&first.id, "9");
    stale.etag = "7".into();
    client.update_producer(stale).await.unwrap_err();
    let bad_zip = pb::Address {
        zip: "1".into(),
        ..mailing_address()
    };
    client
        .create_address(pb::CreateAddressRequest {
            producer_id: first.id.clone(),
            address: Some(bad_zip),
            ..Default::default()
        })
        .await
        .unwrap_err();
    client
        .update_producer(pb::UpdateProducerRequest {
            id: first.id.clone(),
            producer: Some(pb::Producer::default()),
            update_mask: update_mask(&["individual.last_name"]),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    client
        .update_producer(change_npn(&first.id, "3"))
        .await
        .unwrap();

    let records = published(&server, 2).await;
    assert_eq!(
        types(&records),
        [
            "producerprofile.producer.created.v1",
            "producerprofile.producer.updated.v1"
        ]
    );
    assert_eq!(records[1].event.npn, "3");
}

#[tokio::test]
async fn a_request_trace_context_travels_in_the_event_headers() {
    let server = TestServer::start().await;
    let token = token("ACME", ALL_PRODUCER_SCOPES);
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut client =
        pb::producer_profile_service_client::ProducerProfileServiceClient::with_interceptor(
            server.channel().await,
            move |mut request: tonic::Request<()>| {
                request
                    .metadata_mut()
                    .insert("authorization", format!("Bearer {token}").parse().unwrap());
                request
                    .metadata_mut()
                    .insert("traceparent", traceparent.parse().unwrap());
                Ok(request)
            },
        );
    client.create_producer(create(firm("1"))).await.unwrap();
    let records = published(&server, 1).await;
    assert_eq!(
        records[0].headers.get("traceparent").map(String::as_str),
        Some(traceparent)
    );
}

#[tokio::test]
async fn with_the_broker_down_writes_succeed_and_every_event_arrives_in_order_once_it_is_back() {
    let mut broker = Broker::start();
    let server = TestServer::start_with(|config| {
        config.kafka.brokers = broker.address();
        config.kafka.message_timeout_ms = 1_000;
    })
    .await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let warm_up = client
        .create_producer(create(firm("1")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        published(&server, 1).await.len(),
        1,
        "published while the broker is up"
    );

    broker.stop();
    let mut ids = vec![warm_up.id.clone()];
    for n in 2..=4 {
        ids.push(
            client
                .create_producer(create(firm(&n.to_string())))
                .await
                .unwrap()
                .into_inner()
                .id,
        );
    }
    for n in 0..3 {
        client
            .update_producer(change_npn(&warm_up.id, &format!("10{n}")))
            .await
            .unwrap();
    }
    server
        .wait_for_health_of(
            producer_profile::server::EVENT_RELAY,
            ServingStatus::NotServing,
        )
        .await;
    assert_eq!(
        server.health("").await,
        ServingStatus::Serving,
        "the API keeps serving"
    );

    // The broker comes back empty (in-memory): the relay creates the topic again and
    // publishes the whole backlog.
    broker.restart();
    server
        .wait_for_health_of(
            producer_profile::server::EVENT_RELAY,
            ServingStatus::Serving,
        )
        .await;
    let records = kafka::read(&broker.address(), &server.config.kafka.topic, 6, WAIT).await;
    let mut by_producer: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for record in &records {
        by_producer
            .entry(record.key.clone())
            .or_default()
            .push(record.event.sequence);
    }
    assert_eq!(
        by_producer[&warm_up.id],
        [2, 3, 4],
        "the warm-up producer's updates, in order"
    );
    for id in &ids[1..] {
        assert_eq!(by_producer[id], [1]);
    }
}

#[tokio::test]
async fn two_relays_publish_each_event_once() {
    let first = TestServer::start().await;
    let mut config = test_config(&first.db.url);
    config.kafka.topic = first.config.kafka.topic.clone();
    config.encryption = first.config.encryption.clone();
    let second = TestServer::launch(Arc::clone(&first.db), config).await;
    second.wait_for_health(ServingStatus::Serving).await;

    let mut one = first.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let mut two = second.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let mut writes = 0;
    for n in 0..6 {
        let client = if n % 2 == 0 { &mut one } else { &mut two };
        let producer = client
            .create_producer(create(firm(&n.to_string())))
            .await
            .unwrap()
            .into_inner();
        client
            .update_producer(change_npn(&producer.id, &format!("{n}0")))
            .await
            .unwrap();
        writes += 2;
    }
    // The reader lingers after the last expected record: a duplicate would show.
    let records = published(&first, writes).await;
    assert_eq!(records.len(), writes);
    let ids: HashSet<&str> = records.iter().map(|r| r.event.event_id.as_str()).collect();
    assert_eq!(ids.len(), writes, "each event once");
    let mut by_producer: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for record in &records {
        by_producer
            .entry(record.key.as_str())
            .or_default()
            .push(record.event.sequence);
    }
    assert!(
        by_producer.values().all(|s| s == &[1, 2]),
        "{by_producer:?}"
    );
}

#[tokio::test]
async fn list_events_pages_through_the_accounts_events_in_commit_order() {
    let server = TestServer::start().await;
    let scopes = "producers:read producers:write events:read";
    let mut client = server.client_for("ACME", scopes).await;
    let producer = every_kind_of_write(&mut client).await;
    let mut other = server.client_for("GLOBEX", scopes).await;
    other.create_producer(create(firm("1"))).await.unwrap();

    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let page = client
            .list_events(pb::ListEventsRequest {
                after: after.clone(),
                page_size: 4,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.events.len() <= 4);
        seen.extend(page.events);
        after = page.next_cursor;
        if !page.more {
            break;
        }
    }
    let seen_types: Vec<&str> = seen.iter().map(|e| e.r#type.as_str()).collect();
    assert_eq!(
        seen_types, EXPECTED,
        "the account's events only, in commit order"
    );
    assert!(seen.iter().all(|e| e.producer_id == producer));

    // Caught up: the cursor stays put until something new happens.
    let idle = client
        .list_events(pb::ListEventsRequest {
            after: after.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(idle.events.is_empty() && !idle.more);
    assert_eq!(idle.next_cursor, after);
    client.create_producer(create(firm("77"))).await.unwrap();
    let fresh = client
        .list_events(pb::ListEventsRequest {
            after,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fresh.events.len(), 1);

    // Filters.
    let deletes = client
        .list_events(pb::ListEventsRequest {
            event_types: vec!["producerprofile.address.deleted.v1".into()],
            producer_id: producer.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deletes.events.len(), 2);
    let bad = client
        .list_events(pb::ListEventsRequest {
            after: "nope".into(),
            event_types: vec!["address.moved".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&bad), ["after", "event_types[0]"]);

    // The feed is for events:read holders.
    let mut no_scope = server.client_for("ACME", "producers:read").await;
    let denied = no_scope
        .list_events(pb::ListEventsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
}
