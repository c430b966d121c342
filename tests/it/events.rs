//! Domain events: each write publishes exactly its events to Kafka (CloudEvents headers,
//! keyed by producer, contiguous sequences, masked payloads); failed writes publish
//! nothing; the broker can go away; two relays publish each event once; the feed.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

use producer_profile::proto::{events as ev, v1 as pb};

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
            request_id: String::new(),
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
            request_id: String::new(),
            producer_id: id.clone(),
            insurance_policy_id: policy.id,
            producer_etag: String::new(),
        })
        .await
        .unwrap();
    client
        .delete_producer(pb::DeleteProducerRequest {
            request_id: String::new(),
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
    "producerprofile.address.updated.v1", // the first address loses "preferred"…
    "producerprofile.address.created.v1", // …before the second one has it
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
    assert_eq!(records[3].event.changed_fields, ["preferred"]);
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
            request_id: String::new(),
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
    let mut feed = server.feed_client("ACME", scopes).await;
    let producer = every_kind_of_write(&mut client).await;
    let mut other = server.client_for("GLOBEX", scopes).await;
    other.create_producer(create(firm("1"))).await.unwrap();

    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let page = feed
            .list_events(ev::ListEventsRequest {
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
    let idle = feed
        .list_events(ev::ListEventsRequest {
            after: after.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(idle.events.is_empty() && !idle.more);
    assert_eq!(idle.next_cursor, after);
    client.create_producer(create(firm("77"))).await.unwrap();
    let fresh = feed
        .list_events(ev::ListEventsRequest {
            after,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fresh.events.len(), 1);

    // Filters.
    let deletes = feed
        .list_events(ev::ListEventsRequest {
            event_types: vec!["producerprofile.address.deleted.v1".into()],
            producer_id: producer.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deletes.events.len(), 2);
    let bad = feed
        .list_events(ev::ListEventsRequest {
            after: "nope".into(),
            event_types: vec!["address.moved".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&bad), ["after", "event_types[0]"]);

    // The feed is for events:read holders.
    let mut no_scope = server.feed_client("ACME", "producers:read").await;
    let denied = no_scope
        .list_events(ev::ListEventsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
}

/// The event types and changed fields a run of writes published.
async fn published_changes(server: &TestServer, count: usize) -> Vec<(String, Vec<String>)> {
    published(server, count)
        .await
        .into_iter()
        .map(|r| (r.event.r#type, r.event.changed_fields))
        .collect()
}

fn change(event_type: &str, fields: &[&str]) -> (String, Vec<String>) {
    (
        event_type.to_owned(),
        fields.iter().map(|f| f.to_string()).collect(),
    )
}

#[tokio::test]
async fn child_updates_deletes_and_flag_switches_publish_their_events() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let producer = client
        .create_producer(create(firm("1")))
        .await
        .unwrap()
        .into_inner();
    let id = producer.id.clone();
    let address = client
        .create_address(pb::CreateAddressRequest {
            producer_id: id.clone(),
            address: Some(mailing_address()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    client
        .update_address(pb::UpdateAddressRequest {
            request_id: String::new(),
            producer_id: id.clone(),
            address_id: address.id.clone(),
            address: Some(pb::Address {
                city: "Peoria".into(),
                ..Default::default()
            }),
            update_mask: update_mask(&["city"]),
            producer_etag: String::new(),
        })
        .await
        .unwrap();
    let phone = |n: u8, preferred: bool| pb::CreatePhoneRequest {
        producer_id: id.clone(),
        phone: Some(pb::Phone {
            number: format!("+1415555010{n}"),
            preferred,
            ..cell_phone()
        }),
        ..Default::default()
    };
    let first_phone = client
        .create_phone(phone(1, true))
        .await
        .unwrap()
        .into_inner();
    client.create_phone(phone(2, true)).await.unwrap();
    let account = |primary: bool| pb::CreateBankAccountRequest {
        producer_id: id.clone(),
        bank_account: Some(pb::BankAccount {
            primary_account: primary,
            ..checking_account()
        }),
        ..Default::default()
    };
    let first_account = client
        .create_bank_account(account(true))
        .await
        .unwrap()
        .into_inner();
    client.create_bank_account(account(true)).await.unwrap();
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
        .update_insurance_policy(pb::UpdateInsurancePolicyRequest {
            request_id: String::new(),
            producer_id: id.clone(),
            insurance_policy_id: policy.id,
            insurance_policy: Some(pb::InsurancePolicy {
                total_limit: "2000000".into(),
                ..Default::default()
            }),
            update_mask: update_mask(&["total_limit"]),
            producer_etag: String::new(),
        })
        .await
        .unwrap();
    client
        .delete_address(pb::DeleteAddressRequest {
            request_id: String::new(),
            producer_id: id.clone(),
            address_id: address.id,
            producer_etag: String::new(),
        })
        .await
        .unwrap();
    client
        .delete_phone(pb::DeletePhoneRequest {
            request_id: String::new(),
            producer_id: id.clone(),
            phone_id: first_phone.id,
            producer_etag: String::new(),
        })
        .await
        .unwrap();
    client
        .delete_bank_account(pb::DeleteBankAccountRequest {
            request_id: String::new(),
            producer_id: id.clone(),
            bank_account_id: first_account.id,
            producer_etag: String::new(),
        })
        .await
        .unwrap();

    // The reader lingers a second after the 14th record: a 15th would show.
    let changes = published_changes(&server, 14).await;
    assert_eq!(changes[0].0, "producerprofile.producer.created.v1");
    assert_eq!(changes[1].0, "producerprofile.address.created.v1");
    assert_eq!(
        changes[2],
        change("producerprofile.address.updated.v1", &["city"])
    );
    assert_eq!(changes[3].0, "producerprofile.phone.created.v1");
    assert_eq!(
        changes[4],
        change("producerprofile.phone.updated.v1", &["preferred"])
    );
    assert_eq!(changes[5].0, "producerprofile.phone.created.v1");
    assert_eq!(changes[6].0, "producerprofile.bank_account.created.v1");
    assert_eq!(
        changes[7],
        change(
            "producerprofile.bank_account.updated.v1",
            &["primary_account"]
        )
    );
    assert_eq!(changes[8].0, "producerprofile.bank_account.created.v1");
    assert_eq!(changes[9].0, "producerprofile.insurance_policy.created.v1");
    assert_eq!(
        changes[10],
        change(
            "producerprofile.insurance_policy.updated.v1",
            &["total_limit"]
        )
    );
    assert_eq!(
        changes[11],
        change("producerprofile.address.deleted.v1", &[])
    );
    assert_eq!(changes[12], change("producerprofile.phone.deleted.v1", &[]));
    assert_eq!(
        changes[13],
        change("producerprofile.bank_account.deleted.v1", &[])
    );
    assert_eq!(changes.len(), 14, "nothing else");
}

#[tokio::test]
async fn replays_and_no_op_updates_publish_nothing_and_an_ssn_change_is_named_but_not_shown() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let keyed = pb::CreateProducerRequest {
        producer: Some(individual("1")),
        request_id: "once".into(),
    };
    let producer = client
        .create_producer(keyed.clone())
        .await
        .unwrap()
        .into_inner();
    client.create_producer(keyed).await.unwrap();
    client
        .update_producer(change_npn(&producer.id, "1"))
        .await
        .unwrap();
    let new_ssn = pb::Producer {
        details: Some(pb::producer::Details::Individual(pb::Individual {
            ssn: "111-22-3333".into(),
            ..Default::default()
        })),
        ..Default::default()
    };
    client
        .update_producer(pb::UpdateProducerRequest {
            request_id: String::new(),
            id: producer.id.clone(),
            producer: Some(new_ssn),
            update_mask: update_mask(&["individual.ssn"]),
            etag: String::new(),
        })
        .await
        .unwrap();
    let records = published(&server, 2).await;
    assert_eq!(records.len(), 2, "a replay and a no-op publish nothing");
    assert_eq!(
        records[1].event.changed_fields,
        ["individual.ssn", "individual.ssn_last4"]
    );
    for secret in ["111223333", "111-22-3333"] {
        assert!(!String::from_utf8_lossy(&records[1].raw).contains(secret));
    }
}

#[tokio::test]
async fn a_standby_relay_takes_over_when_the_publisher_stops() {
    let first = TestServer::start().await;
    let mut config = test_config(&first.db.url);
    config.kafka.topic = first.config.kafka.topic.clone();
    config.encryption = first.config.encryption.clone();
    let second = TestServer::launch(Arc::clone(&first.db), config).await;
    second.wait_for_health(ServingStatus::Serving).await;
    let mut client = second.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    client.create_producer(create(firm("1"))).await.unwrap();
    assert_eq!(published(&first, 1).await.len(), 1);

    first.stop().await.unwrap();
    for n in 2..=4 {
        client
            .create_producer(create(firm(&n.to_string())))
            .await
            .unwrap();
    }
    let records = kafka::read(
        &second.config.kafka.brokers,
        &second.config.kafka.topic,
        4,
        WAIT,
    )
    .await;
    let ids: HashSet<&str> = records.iter().map(|r| r.event.event_id.as_str()).collect();
    assert_eq!(
        (records.len(), ids.len()),
        (4, 4),
        "the standby published the rest, once"
    );
}

#[tokio::test]
async fn concurrent_writes_give_contiguous_sequences_and_a_tailing_feed_misses_nothing() {
    let server = TestServer::start().await;
    let scopes = "producers:read producers:write events:read";
    let mut client = server.client_for("ACME", scopes).await;
    let mut feed = server.feed_client("ACME", scopes).await;
    let shared = client
        .create_producer(create(individual("1")))
        .await
        .unwrap()
        .into_inner();

    let writers: Vec<_> = (0..6)
        .map(|w| {
            let mut client = client.clone();
            let shared = shared.id.clone();
            tokio::spawn(async move {
                for n in 0..5 {
                    // Half the writes go to one producer's children, half create producers.
                    if w % 2 == 0 {
                        let phone = pb::Phone {
                            number: format!("+1415555{w}{n:03}"),
                            ..cell_phone()
                        };
                        client
                            .create_phone(pb::CreatePhoneRequest {
                                producer_id: shared.clone(),
                                phone: Some(phone),
                                ..Default::default()
                            })
                            .await
                            .unwrap();
                    } else {
                        client
                            .create_producer(create(firm(&format!("{w}{n}00"))))
                            .await
                            .unwrap();
                    }
                }
            })
        })
        .collect();

    // Tail the feed while the writers run, then until caught up.
    let mut tail = Vec::new();
    let mut after = String::new();
    let mut writers_done = false;
    let mut writers = writers;
    loop {
        let page = feed
            .list_events(ev::ListEventsRequest {
                after: after.clone(),
                page_size: 7,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        tail.extend(
            page.events
                .into_iter()
                .map(|e| (e.event_id, e.producer_id, e.sequence)),
        );
        after = page.next_cursor;
        if writers_done && !page.more {
            break;
        }
        if !writers_done && writers.iter().all(|w| w.is_finished()) {
            for writer in writers.drain(..) {
                writer.await.unwrap();
            }
            writers_done = true;
        }
    }

    let total = 1 + 15 + 15;
    let ids: HashSet<&str> = tail.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!((tail.len(), ids.len()), (total, total), "every event once");
    let shared_sequences: Vec<i64> = tail
        .iter()
        .filter(|(_, p, _)| *p == shared.id)
        .map(|(_, _, s)| *s)
        .collect();
    assert_eq!(
        shared_sequences,
        (1..=16).collect::<Vec<_>>(),
        "contiguous, in order"
    );
}

#[tokio::test]
async fn a_cursor_older_than_the_retention_is_refused() {
    let server = TestServer::start().await;
    let scopes = "producers:read producers:write events:read";
    let mut client = server.client_for("ACME", scopes).await;
    let mut feed = server.feed_client("ACME", scopes).await;
    client.create_producer(create(firm("1"))).await.unwrap();
    let first = feed
        .list_events(ev::ListEventsRequest::default())
        .await
        .unwrap()
        .into_inner();
    client.create_producer(create(firm("2"))).await.unwrap();
    client.create_producer(create(firm("3"))).await.unwrap();
    assert_eq!(published(&server, 3).await.len(), 3);

    // The retention purge runs (here: now, for everything published).
    let mut conn = server.db.connect();
    let purged = producer_profile::storage::outbox::purge_published_before(
        &mut conn,
        chrono::Utc::now() + chrono::Duration::hours(1),
        2,
    )
    .unwrap();
    assert_eq!(purged, 2);
    let stale = feed
        .list_events(ev::ListEventsRequest {
            after: first.next_cursor,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::OutOfRange, "{stale:?}");
    let fresh = feed
        .list_events(ev::ListEventsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        fresh.events.len(),
        1,
        "an empty cursor starts at the oldest kept event"
    );
}

#[tokio::test]
async fn the_topic_is_created_with_the_configured_partitions() {
    let server = TestServer::start_with(|config| config.kafka.topic_partitions = 2).await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    client.create_producer(create(firm("1"))).await.unwrap();
    assert_eq!(published(&server, 1).await.len(), 1);
    let partitions =
        producer_profile::events::kafka::partitions(&server.config.kafka, Duration::from_secs(5))
            .await
            .unwrap();
    assert_eq!(partitions.len(), 2);
}

/// The log positions of the account's events, oldest first (read from the database).
fn positions(server: &TestServer, account: &str) -> Vec<i64> {
    use diesel::prelude::*;
    use producer_profile::storage::schema::events;
    events::table
        .filter(events::account_id.eq(account))
        .select(events::position)
        .order(events::position)
        .load(&mut server.db.connect())
        .unwrap()
}

#[tokio::test]
async fn feed_cursors_are_opaque_and_bound_to_the_account_they_were_issued_to() {
    use base64::Engine;
    let server = TestServer::start().await;
    let scopes = "producers:read producers:write events:read";
    let mut acme = server.client_for("ACME", scopes).await;
    let mut acme_feed = server.feed_client("ACME", scopes).await;
    let mut globex = server.client_for("GLOBEX", scopes).await;
    let mut globex_feed = server.feed_client("GLOBEX", scopes).await;
    acme.create_producer(create(firm("1"))).await.unwrap();
    let first = acme_feed
        .list_events(ev::ListEventsRequest::default())
        .await
        .unwrap()
        .into_inner();
    for n in 1..=3 {
        globex
            .create_producer(create(firm(&n.to_string())))
            .await
            .unwrap();
    }
    acme.create_producer(create(firm("2"))).await.unwrap();
    let second = acme_feed
        .list_events(ev::ListEventsRequest {
            after: first.next_cursor.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.events.len(), 1, "ACME reads its own next event");

    // Nothing in a cursor spells a log position: not as an integer either way round,
    // not in the old `ev1:N` form. (A bare digit is not looked for: 37 sealed bytes
    // contain the byte of a one-digit position one time in seven.)
    let acme_positions = positions(&server, "ACME");
    assert_eq!(acme_positions.len(), 2);
    for (cursor, position) in [
        (&first.next_cursor, acme_positions[0]),
        (&second.next_cursor, acme_positions[1]),
    ] {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .expect("cursors are URL-safe base64");
        for as_integer in [position.to_be_bytes(), position.to_le_bytes()] {
            assert!(
                !bytes.windows(8).any(|w| w == as_integer),
                "{cursor} holds {position}"
            );
        }
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&format!("ev1:{position}")),
            "{cursor} spells {position}"
        );
    }

    // Another account's cursor, an altered one and one of the old format are refused.
    let foreign = globex_feed
        .list_events(ev::ListEventsRequest {
            after: first.next_cursor.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&foreign), ["after"], "{foreign:?}");
    let mut altered = first.next_cursor.clone().into_bytes();
    let last = altered.len() - 2;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let old_format = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("ev1:{}", acme_positions[0]));
    for after in [String::from_utf8(altered).unwrap(), old_format] {
        let refused = acme_feed
            .list_events(ev::ListEventsRequest {
                after,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&refused), ["after"], "{refused:?}");
    }
}

#[tokio::test]
async fn list_events_still_answers_at_its_old_address() {
    let server = TestServer::start().await;
    let scopes = "producers:read producers:write events:read";
    let mut client = server.client_for("ACME", scopes).await;
    client.create_producer(create(firm("1"))).await.unwrap();
    let mut grpc = tonic::client::Grpc::new(server.channel().await);
    grpc.ready().await.unwrap();
    let mut request = tonic::Request::new(ev::ListEventsRequest::default());
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", token("ACME", scopes)).parse().unwrap(),
    );
    let answer: ev::ListEventsResponse = grpc
        .unary(
            request,
            "/producerprofile.v1.ProducerProfileService/ListEvents"
                .parse()
                .unwrap(),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .expect("the old address answers")
        .into_inner();
    assert_eq!(answer.events.len(), 1);
    assert_eq!(
        answer.events[0].r#type,
        "producerprofile.producer.created.v1"
    );
}
