//! Hostile input from outside: every refusal fits in a few KiB of trailers (gRPC clients
//! drop answers with more than 8–16 KiB of metadata, and the caller would never learn
//! which field was wrong), and no timestamp or date, however extreme, reaches the
//! database to fail there: each is OK or INVALID_ARGUMENT naming its field, never
//! INTERNAL.

use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use prost_types::Timestamp;
use tonic::{Code, Status};

use producer_profile::proto::{events as ev, v1 as pb};

use crate::support::hooks::{MANAGE, endpoint};
use crate::support::receiver::Receiver;
use crate::support::server::{Client, WebhookClient};
use crate::support::*;

/// The most trailer bytes a refusal may take.
const TRAILER_LIMIT: usize = 8 * 1024;

/// Bytes of the trailers the server sent for `status` (names, values, and the HPACK
/// per-field overhead of 32 bytes each that header-list limits count).
fn trailer_bytes(status: &Status) -> usize {
    let mut headers = http::HeaderMap::new();
    status
        .add_header(&mut headers)
        .expect("a status renders as headers");
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 32)
        .sum()
}

fn assert_bounded(what: &str, status: &Status, field: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{what}: {status:?}");
    let size = trailer_bytes(status);
    assert!(size <= TRAILER_LIMIT, "{what}: {size} bytes of trailers");
    let fields = violated_fields(status);
    assert!(
        fields.iter().any(|f| f.starts_with(field)),
        "{what}: the answer names {field}: {fields:?}"
    );
}

fn huge(text: &str, times: usize) -> String {
    text.repeat(times)
}

#[tokio::test]
async fn every_refusal_fits_in_8_kib_of_trailers_and_still_names_the_field() {
    let server = TestServer::start().await;
    let scopes = "producers:read producers:write producers:pii events:read";
    let mut client = server.client_for("ACME", scopes).await;
    let mut feed = server.feed_client("ACME", scopes).await;
    let producer = client
        .create_producer(create(individual("1")))
        .await
        .unwrap()
        .into_inner();
    let address = client
        .create_address(pb::CreateAddressRequest {
            producer_id: producer.id.clone(),
            address: Some(mailing_address()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    let status = feed
        .list_events(ev::ListEventsRequest {
            event_types: vec![huge("not.a.type.", 10); 1000],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_bounded("1,000 bad event types", &status, "event_types");
    let status = feed
        .list_events(ev::ListEventsRequest {
            event_types: vec![huge("bad", 300); 50],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_bounded("50 long bad event types", &status, "event_types[0]");

    for npns in [vec!["x".to_owned(); 501], vec![huge("y", 1000); 500]] {
        let status = client
            .list_producers(pb::ListProducersRequest {
                npns,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_bounded("hundreds of bad NPNs", &status, "npns");
    }

    let status = client
        .update_producer(pb::UpdateProducerRequest {
            id: producer.id.clone(),
            update_mask: Some(prost_types::FieldMask {
                paths: vec![huge("no_such_field.", 100); 1000],
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_bounded("1,000 long unknown mask paths", &status, "update_mask");

    let mut everything_wrong = individual(&huge("1", 5000));
    let person = person_mut(&mut everything_wrong);
    for field in [
        &mut person.first_name,
        &mut person.last_name,
        &mut person.middle_name,
        &mut person.suffix,
        &mut person.title,
        &mut person.primary_email,
        &mut person.secondary_email,
        &mut person.ssn,
        &mut person.ssn_last4,
        &mut person.finra_crd_number,
        &mut person.date_of_birth,
    ] {
        *field = huge("\u{1F4A5}", 20_000);
    }
    let status = client
        .create_producer(pb::CreateProducerRequest {
            producer: Some(everything_wrong),
            request_id: huge("\u{7}", 10_000),
        })
        .await
        .unwrap_err();
    assert_bounded("every field wrong and huge", &status, "producer.npn");

    let status = client
        .update_address(pb::UpdateAddressRequest {
            producer_id: producer.id.clone(),
            address_id: address.id.clone(),
            update_mask: Some(prost_types::FieldMask {
                paths: (0..2000)
                    .map(|i| format!("field_{i}_{}", huge("z", 200)))
                    .collect(),
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_bounded("2,000 unknown child mask paths", &status, "update_mask");

    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    let status = hooks
        .create_endpoint(pb::CreateEndpointRequest {
            endpoint: Some(pb::Endpoint {
                url: format!("https://{}.example/", huge("h", 100_000)),
                event_types: vec![huge("id.nope.", 1000); 40],
                description: huge("d", 100_000),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_bounded("a huge endpoint", &status, "endpoint.url");
    let receiver = Receiver::start().await;
    let (registered, _) = endpoint(&mut hooks, &receiver.url, &["id.producer"]).await;
    let status = hooks
        .update_endpoint(pb::UpdateEndpointRequest {
            id: registered.id,
            endpoint: Some(pb::Endpoint::default()),
            update_mask: Some(prost_types::FieldMask {
                paths: vec![huge("rate_limit", 100); 1000],
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_bounded("1,000 long endpoint mask paths", &status, "update_mask");
}

/// Timestamps from every corner: around the protobuf range's ends, anything at all,
/// and nanos out of range.
fn any_timestamp() -> impl Strategy<Value = Timestamp> {
    let first = -62_135_596_800i64;
    let last = 253_402_300_799i64;
    let seconds = prop_oneof![
        any::<i64>(),
        (first - 5..first + 5),
        (last - 5..last + 5),
        Just(i64::MIN),
        Just(i64::MAX),
        // 4714 BC and later than Postgres' last year, 294276.
        Just(-210_898_425_600i64),
        Just(9_224_318_016_000i64),
    ];
    let nanos = prop_oneof![0..1_000_000_000i32, any::<i32>()];
    (seconds, nanos).prop_map(|(seconds, nanos)| Timestamp { seconds, nanos })
}

/// Date strings: well-formed ones over all four-digit years and edge days, and junk.
fn any_date() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..=9999, 0u32..=13, 0u32..=32).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}")),
        Just("0000-01-01".to_owned()),
        Just("0001-01-01".to_owned()),
        Just("9999-12-31".to_owned()),
        "[0-9+-]{1,12}",
        ".{0,12}",
    ]
}

/// A call's outcome without its answer.
fn ok<T>(result: Result<T, Status>) -> Result<(), Status> {
    result.map(drop)
}

/// What a call did with a fuzzed value: fine, or refused naming one of `fields`.
fn acceptable(
    what: &str,
    result: Result<(), Status>,
    fields: &[&str],
) -> Result<(), TestCaseError> {
    let Err(status) = result else {
        return Ok(());
    };
    prop_assert_eq!(
        status.code(),
        Code::InvalidArgument,
        "{}: {:?}",
        what,
        status
    );
    let named = violated_fields(&status);
    prop_assert!(
        !named.is_empty() && named.iter().all(|f| fields.contains(&f.as_str())),
        "{}: names {:?}, expected among {:?}",
        what,
        named,
        fields
    );
    Ok(())
}

struct Targets {
    client: Client,
    hooks: WebhookClient,
    producer: String,
    address: String,
    policy: String,
    endpoint: String,
}

static NPNS: AtomicU64 = AtomicU64::new(1_000);

/// Calls every RPC that takes a timestamp or a date with the fuzzed value there.
async fn call_everything(
    t: &mut Targets,
    time: &Timestamp,
    date: &str,
) -> Result<(), TestCaseError> {
    let in_range = (-62_135_596_800..=253_402_300_799).contains(&time.seconds)
        && (0..1_000_000_000).contains(&time.nanos);

    let listed = ok(t
        .client
        .list_producers(pb::ListProducersRequest {
            updated_since: Some(*time),
            ..Default::default()
        })
        .await);
    prop_assert_eq!(
        listed.is_ok(),
        in_range,
        "updated_since {:?}: {:?}",
        time,
        listed
    );
    acceptable("ListProducers.updated_since", listed, &["updated_since"])?;
    let recovered = ok(t
        .hooks
        .recover_endpoint(pb::RecoverEndpointRequest {
            endpoint_id: t.endpoint.clone(),
            since: Some(*time),
            ..Default::default()
        })
        .await);
    prop_assert_eq!(
        recovered.is_ok(),
        in_range,
        "since {:?}: {:?}",
        time,
        recovered
    );
    acceptable("RecoverEndpoint.since", recovered, &["since"])?;

    let result = ok(t
        .client
        .list_producers(pb::ListProducersRequest {
            covered_on: date.to_owned(),
            ..Default::default()
        })
        .await);
    acceptable("ListProducers.covered_on", result, &["covered_on"])?;
    let result = ok(t
        .client
        .check_coverage(pb::CheckCoverageRequest {
            producer_id: t.producer.clone(),
            date: date.to_owned(),
        })
        .await);
    acceptable("CheckCoverage.date", result, &["date"])?;

    let mut born = individual(&NPNS.fetch_add(1, Ordering::Relaxed).to_string());
    person_mut(&mut born).date_of_birth = date.to_owned();
    let result = ok(t.client.create_producer(create(born.clone())).await);
    acceptable(
        "CreateProducer.date_of_birth",
        result,
        &["producer.individual.date_of_birth"],
    )?;
    let result = ok(t
        .client
        .update_producer(pb::UpdateProducerRequest {
            id: t.producer.clone(),
            producer: Some(born),
            update_mask: update_mask(&["individual.date_of_birth"]),
            ..Default::default()
        })
        .await);
    acceptable(
        "UpdateProducer.date_of_birth",
        result,
        &["producer.individual.date_of_birth"],
    )?;

    let moved = pb::Address {
        move_in_date: date.to_owned(),
        ..mailing_address()
    };
    let result = ok(t
        .client
        .create_address(pb::CreateAddressRequest {
            producer_id: t.producer.clone(),
            address: Some(moved.clone()),
            ..Default::default()
        })
        .await);
    acceptable(
        "CreateAddress.move_in_date",
        result,
        &["address.move_in_date"],
    )?;
    let result = ok(t
        .client
        .update_address(pb::UpdateAddressRequest {
            producer_id: t.producer.clone(),
            address_id: t.address.clone(),
            address: Some(moved),
            update_mask: update_mask(&["move_in_date"]),
            ..Default::default()
        })
        .await);
    acceptable(
        "UpdateAddress.move_in_date",
        result,
        &["address.move_in_date"],
    )?;

    let period = ["insurance_policy.effective_date", "insurance_policy.expiry"];
    for policy in [
        pb::InsurancePolicy {
            effective_date: date.to_owned(),
            ..eo_policy()
        },
        pb::InsurancePolicy {
            expiry: date.to_owned(),
            ..eo_policy()
        },
    ] {
        let result = ok(t
            .client
            .create_insurance_policy(pb::CreateInsurancePolicyRequest {
                producer_id: t.producer.clone(),
                insurance_policy: Some(policy.clone()),
                ..Default::default()
            })
            .await);
        acceptable("CreateInsurancePolicy period", result, &period)?;
        let result = ok(t
            .client
            .update_insurance_policy(pb::UpdateInsurancePolicyRequest {
                producer_id: t.producer.clone(),
                insurance_policy_id: t.policy.clone(),
                insurance_policy: Some(policy),
                update_mask: update_mask(&["effective_date", "expiry"]),
                ..Default::default()
            })
            .await);
        acceptable("UpdateInsurancePolicy period", result, &period)?;
    }
    Ok(())
}

#[test]
fn no_timestamp_or_date_of_any_rpc_is_answered_internal() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (server, targets) = runtime.block_on(async {
        let server = TestServer::start().await;
        let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
        let producer = client
            .create_producer(create(individual("1")))
            .await
            .unwrap()
            .into_inner()
            .id;
        let address = client
            .create_address(pb::CreateAddressRequest {
                producer_id: producer.clone(),
                address: Some(mailing_address()),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .id;
        let policy = client
            .create_insurance_policy(pb::CreateInsurancePolicyRequest {
                producer_id: producer.clone(),
                insurance_policy: Some(eo_policy()),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .id;
        let mut hooks = server.webhook_client("ACME", MANAGE).await;
        let receiver = Receiver::start().await;
        let (registered, _) = endpoint(&mut hooks, &receiver.url, &["id.producer"]).await;
        let targets = Targets {
            client,
            hooks,
            producer,
            address,
            policy,
            endpoint: registered.id,
        };
        (server, std::cell::RefCell::new(targets))
    });
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&(any_timestamp(), any_date()), |(time, date)| {
            runtime.block_on(call_everything(&mut targets.borrow_mut(), &time, &date))
        })
        .unwrap();
    runtime.block_on(async move { drop(server) });
}
