//! Mutations with a request id: a retry answers what the first call answered and
//! changes nothing more, whatever happened in between.

use std::time::Duration;

use diesel::RunQueryDsl;
use tonic::Code;

use producer_profile::proto::v1 as pb;

use crate::support::*;

fn keyed(producer: pb::Producer, request_id: &str) -> pb::CreateProducerRequest {
    pb::CreateProducerRequest {
        producer: Some(producer),
        request_id: request_id.into(),
    }
}

async fn count(client: &mut crate::support::server::Client) -> usize {
    client
        .list_producers(pb::ListProducersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .producers
        .len()
}

#[tokio::test]
async fn a_replayed_create_returns_the_first_result_and_creates_nothing() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let first = client
        .create_producer(keyed(individual("1"), "req-1"))
        .await
        .unwrap()
        .into_inner();
    let replay = client
        .create_producer(keyed(individual("1"), "req-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(replay, first);
    assert_eq!(count(&mut client).await, 1);
}

#[tokio::test]
async fn the_same_request_id_with_another_body_is_refused() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    client
        .create_producer(keyed(individual("1"), "req-1"))
        .await
        .unwrap();
    let status = client
        .create_producer(keyed(individual("2"), "req-1"))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["request_id"]);
    assert_eq!(count(&mut client).await, 1);
}

#[tokio::test]
async fn concurrent_retries_of_one_create_make_one_producer() {
    let server = TestServer::start().await;
    let client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let attempts: Vec<_> = (0..5)
        .map(|_| {
            let mut client = client.clone();
            tokio::spawn(async move { client.create_producer(keyed(firm("9"), "same-key")).await })
        })
        .collect();
    let mut ids = Vec::new();
    for attempt in attempts {
        ids.push(
            attempt
                .await
                .unwrap()
                .expect("every retry succeeds")
                .into_inner()
                .id,
        );
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every retry returned the same producer");
    assert_eq!(count(&mut client.clone()).await, 1);
}

#[tokio::test]
async fn request_ids_are_per_account() {
    let server = TestServer::start().await;
    let mut acme = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let mut globex = server.client_for("GLOBEX", ALL_PRODUCER_SCOPES).await;
    let a = acme
        .create_producer(keyed(firm("1"), "req"))
        .await
        .unwrap()
        .into_inner();
    let b = globex
        .create_producer(keyed(firm("1"), "req"))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(a.id, b.id);
}

#[tokio::test]
async fn a_deleted_producer_takes_the_answers_kept_about_it_along() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let first = client
        .create_producer(keyed(individual("1"), "req"))
        .await
        .unwrap()
        .into_inner();
    let address = pb::CreateAddressRequest {
        producer_id: first.id.clone(),
        address: Some(mailing_address()),
        request_id: "req-address".into(),
        ..Default::default()
    };
    client.create_address(address.clone()).await.unwrap();
    let delete = pb::DeleteProducerRequest {
        id: first.id.clone(),
        request_id: "req-delete".into(),
        ..Default::default()
    };
    client.delete_producer(delete.clone()).await.unwrap();
    for replay in [
        client
            .create_producer(keyed(individual("1"), "req"))
            .await
            .unwrap_err(),
        client.create_address(address).await.unwrap_err(),
    ] {
        assert_eq!(replay.code(), Code::NotFound, "{replay:?}");
    }
    assert_eq!(count(&mut client).await, 0, "no second producer");
    client
        .delete_producer(delete)
        .await
        .expect("the delete's own answer holds nothing of the producer and is replayed");
    let mut conn = server.db.connect();
    let kept: i64 = diesel::sql_query(
        "SELECT count(*) AS n FROM request_keys WHERE response_ciphertext IS NOT NULL",
    )
    .get_result::<Count>(&mut conn)
    .unwrap()
    .n;
    assert_eq!(kept, 1, "only the delete's answer is still kept");
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Calls `call` with a fresh request id, then again with the same id and request: the
/// second answers exactly what the first did and writes nothing; then with the same id
/// and another request (`other`): INVALID_ARGUMENT on `request_id`, nothing written.
async fn assert_replayed<T, F, Fut>(server: &TestServer, what: &str, call: F) -> T
where
    T: PartialEq + std::fmt::Debug,
    F: Fn(String, bool) -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let request_id = format!("retry-{}", uuid::Uuid::now_v7());
    let first = call(request_id.clone(), false)
        .await
        .unwrap_or_else(|status| panic!("{what}: {status:?}"))
        .into_inner();
    let before = server.db.footprint();
    let again = call(request_id.clone(), false)
        .await
        .unwrap_or_else(|status| panic!("{what} replayed: {status:?}"))
        .into_inner();
    assert_eq!(
        again, first,
        "{what}: the replay answers as the first call did"
    );
    assert_eq!(
        server.db.footprint(),
        before,
        "{what}: the replay wrote nothing"
    );
    let other = call(request_id, true).await.unwrap_err();
    assert_eq!(violated_fields(&other), ["request_id"], "{what}: {other:?}");
    assert_eq!(
        server.db.footprint(),
        before,
        "{what}: the refusal wrote nothing"
    );
    first
}

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    update_mask(paths)
}

#[tokio::test]
async fn every_producer_and_child_mutation_is_replayed_not_applied_twice() {
    let server = TestServer::start().await;
    let client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let producer = client
        .clone()
        .create_producer(create(individual("1")))
        .await
        .unwrap()
        .into_inner()
        .id;
    let npn = |other: bool| if other { "3" } else { "2" }.to_owned();

    assert_replayed(&server, "CreateProducer", |request_id, other| {
        let mut c = client.clone();
        async move {
            c.create_producer(keyed(firm(&format!("1{}", npn(other))), &request_id))
                .await
        }
    })
    .await;
    assert_replayed(&server, "UpdateProducer", |request_id, other| {
        let (mut c, id) = (client.clone(), producer.clone());
        async move {
            c.update_producer(pb::UpdateProducerRequest {
                request_id,
                ..change_npn(&id, &npn(other))
            })
            .await
        }
    })
    .await;
    let doomed = client
        .clone()
        .create_producer(create(firm("9")))
        .await
        .unwrap()
        .into_inner()
        .id;
    assert_replayed(&server, "DeleteProducer", |request_id, other| {
        let (mut c, id) = (client.clone(), doomed.clone());
        async move {
            c.delete_producer(pb::DeleteProducerRequest {
                id,
                etag: if other { "1".into() } else { String::new() },
                request_id,
            })
            .await
        }
    })
    .await;

    let address = assert_replayed(&server, "CreateAddress", |request_id, other| {
        let (mut c, id) = (client.clone(), producer.clone());
        async move {
            c.create_address(pb::CreateAddressRequest {
                producer_id: id,
                address: Some(pb::Address {
                    city: if other { "Peoria" } else { "Springfield" }.into(),
                    ..mailing_address()
                }),
                request_id,
                ..Default::default()
            })
            .await
        }
    })
    .await;
    assert_replayed(&server, "UpdateAddress", |request_id, other| {
        let (mut c, id, child) = (client.clone(), producer.clone(), address.id.clone());
        async move {
            c.update_address(pb::UpdateAddressRequest {
                producer_id: id,
                address_id: child,
                address: Some(pb::Address {
                    city: if other { "Peoria" } else { "Chicago" }.into(),
                    ..Default::default()
                }),
                update_mask: mask(&["city"]),
                request_id,
                ..Default::default()
            })
            .await
        }
    })
    .await;
    assert_replayed(&server, "DeleteAddress", |request_id, other| {
        let (mut c, id, child) = (client.clone(), producer.clone(), address.id.clone());
        async move {
            c.delete_address(pb::DeleteAddressRequest {
                producer_id: id,
                address_id: child,
                producer_etag: if other { "1".into() } else { String::new() },
                request_id,
            })
            .await
        }
    })
    .await;

    let phone = assert_replayed(&server, "CreatePhone", |request_id, other| {
        let (mut c, id) = (client.clone(), producer.clone());
        async move {
            c.create_phone(pb::CreatePhoneRequest {
                producer_id: id,
                phone: Some(pb::Phone {
                    extension: if other { "2" } else { "1" }.into(),
                    ..cell_phone()
                }),
                request_id,
                ..Default::default()
            })
            .await
        }
    })
    .await;
    assert_replayed(&server, "UpdatePhone", |request_id, other| {
        let (mut c, id, child) = (client.clone(), producer.clone(), phone.id.clone());
        async move {
            c.update_phone(pb::UpdatePhoneRequest {
                producer_id: id,
                phone_id: child,
                phone: Some(pb::Phone {
                    extension: if other { "9" } else { "7" }.into(),
                    ..Default::default()
                }),
                update_mask: mask(&["extension"]),
                request_id,
                ..Default::default()
            })
            .await
        }
    })
    .await;
    assert_replayed(&server, "DeletePhone", |request_id, other| {
        let (mut c, id, child) = (client.clone(), producer.clone(), phone.id.clone());
        async move {
            c.delete_phone(pb::DeletePhoneRequest {
                producer_id: id,
                phone_id: child,
                producer_etag: if other { "1".into() } else { String::new() },
                request_id,
            })
            .await
        }
    })
    .await;

    let account = assert_replayed(&server, "CreateBankAccount", |request_id, other| {
        let (mut c, id) = (client.clone(), producer.clone());
        async move {
            c.create_bank_account(pb::CreateBankAccountRequest {
                producer_id: id,
                bank_account: Some(pb::BankAccount {
                    nickname: if other { "savings" } else { "payroll" }.into(),
                    ..checking_account()
                }),
                request_id,
                ..Default::default()
            })
            .await
        }
    })
    .await;
    assert_replayed(&server, "UpdateBankAccount", |request_id, other| {
        let (mut c, id, child) = (client.clone(), producer.clone(), account.id.clone());
        async move {
            c.update_bank_account(pb::UpdateBankAccountRequest {
                producer_id: id,
                bank_account_id: child,
                bank_account: Some(pb::BankAccount {
                    number: if other { "11112222" } else { "33334444" }.into(),
                    ..Default::default()
                }),
                update_mask: mask(&["number"]),
                request_id,
                ..Default::default()
            })
            .await
        }
    })
    .await;
    assert_replayed(&server, "DeleteBankAccount", |request_id, other| {
        let (mut c, id, child) = (client.clone(), producer.clone(), account.id.clone());
        async move {
            c.delete_bank_account(pb::DeleteBankAccountRequest {
                producer_id: id,
                bank_account_id: child,
                producer_etag: if other { "1".into() } else { String::new() },
                request_id,
            })
            .await
        }
    })
    .await;

    let policy = assert_replayed(&server, "CreateInsurancePolicy", |request_id, other| {
        let (mut c, id) = (client.clone(), producer.clone());
        async move {
            c.create_insurance_policy(pb::CreateInsurancePolicyRequest {
                producer_id: id,
                insurance_policy: Some(pb::InsurancePolicy {
                    policy_number: if other { "EO-2" } else { "EO-1" }.into(),
                    ..eo_policy()
                }),
                request_id,
                ..Default::default()
            })
            .await
        }
    })
    .await;
    assert_replayed(&server, "UpdateInsurancePolicy", |request_id, other| {
        let (mut c, id, child) = (client.clone(), producer.clone(), policy.id.clone());
        async move {
            c.update_insurance_policy(pb::UpdateInsurancePolicyRequest {
                producer_id: id,
                insurance_policy_id: child,
                insurance_policy: Some(pb::InsurancePolicy {
                    total_limit: if other { "2" } else { "3" }.into(),
                    ..Default::default()
                }),
                update_mask: mask(&["total_limit"]),
                request_id,
                ..Default::default()
            })
            .await
        }
    })
    .await;
    assert_replayed(&server, "DeleteInsurancePolicy", |request_id, other| {
        let (mut c, id, child) = (client.clone(), producer.clone(), policy.id.clone());
        async move {
            c.delete_insurance_policy(pb::DeleteInsurancePolicyRequest {
                producer_id: id,
                insurance_policy_id: child,
                producer_etag: if other { "1".into() } else { String::new() },
                request_id,
            })
            .await
        }
    })
    .await;
}

#[tokio::test]
async fn every_webhook_mutation_is_replayed_not_applied_twice() {
    use crate::support::hooks::MANAGE;
    use crate::support::receiver::Receiver;
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let hooks = server.webhook_client("ACME", MANAGE).await;
    let endpoint_message = |description: &str| pb::Endpoint {
        url: receiver.url.clone(),
        event_types: vec!["id.producer".into()],
        description: description.into(),
        ..Default::default()
    };

    let created = assert_replayed(&server, "CreateEndpoint", |request_id, other| {
        let mut c = hooks.clone();
        let endpoint = endpoint_message(if other { "other" } else { "partner" });
        async move {
            c.create_endpoint(pb::CreateEndpointRequest {
                endpoint: Some(endpoint),
                request_id,
            })
            .await
        }
    })
    .await;
    assert_eq!(
        receiver.count(),
        1,
        "one verification request: a replay does not verify again"
    );
    let id = created.endpoint.unwrap().id;
    assert_replayed(&server, "UpdateEndpoint", |request_id, other| {
        let (mut c, id) = (hooks.clone(), id.clone());
        async move {
            c.update_endpoint(pb::UpdateEndpointRequest {
                id,
                endpoint: Some(pb::Endpoint {
                    rate_limit_per_second: if other { 5 } else { 10 },
                    ..Default::default()
                }),
                update_mask: mask(&["rate_limit_per_second"]),
                request_id,
            })
            .await
        }
    })
    .await;
    assert_replayed(&server, "RotateEndpointSecret", |request_id, other| {
        let (mut c, id) = (hooks.clone(), id.clone());
        async move {
            c.rotate_endpoint_secret(pb::RotateEndpointSecretRequest {
                id: if other { format!(" {id}") } else { id },
                request_id,
            })
            .await
        }
    })
    .await;
    let test = assert_replayed(&server, "SendTestEvent", |request_id, other| {
        let (mut c, id) = (hooks.clone(), id.clone());
        async move {
            c.send_test_event(pb::SendTestEventRequest {
                endpoint_id: id,
                event_type: if other {
                    "id.producer.deleted"
                } else {
                    "id.producer.updated"
                }
                .into(),
                request_id,
            })
            .await
        }
    })
    .await;
    assert_replayed(&server, "RedeliverEvent", |request_id, other| {
        let (mut c, id, event) = (hooks.clone(), id.clone(), test.event_id.clone());
        async move {
            c.redeliver_event(pb::RedeliverEventRequest {
                endpoint_id: if other { format!(" {id}") } else { id },
                event_id: event,
                request_id,
            })
            .await
        }
    })
    .await;
    assert_replayed(&server, "RecoverEndpoint", |request_id, other| {
        let (mut c, id) = (hooks.clone(), id.clone());
        async move {
            c.recover_endpoint(pb::RecoverEndpointRequest {
                endpoint_id: id,
                since: Some(prost_types::Timestamp {
                    seconds: if other { 1 } else { 0 },
                    nanos: 0,
                }),
                request_id,
            })
            .await
        }
    })
    .await;
    assert_replayed(&server, "DeleteEndpoint", |request_id, other| {
        let (mut c, id) = (hooks.clone(), id.clone());
        async move {
            c.delete_endpoint(pb::DeleteEndpointRequest {
                id: if other { format!(" {id}") } else { id },
                request_id,
            })
            .await
        }
    })
    .await;
}

/// Sends `call` while `table`'s rows are locked, with a deadline that expires while it
/// waits: the caller sees the call fail, but the server's write commits once the lock
/// goes — a commit whose reply was lost. Returns the failed call's status.
async fn with_lost_reply<T, Fut>(
    server: &TestServer,
    table: &str,
    call: impl FnOnce(Duration) -> Fut,
) -> tonic::Status
where
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let blocker = server.db.lock_rows(table);
    let before = server.db.footprint();
    let lost = call(Duration::from_millis(300))
        .await
        .err()
        .expect("the call fails while the rows are locked");
    drop(blocker);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server.db.footprint() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the write cut off by the deadline committed within 10 s of the lock's release"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    lost
}

fn with_deadline<T>(message: T, deadline: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(deadline);
    request
}

#[tokio::test]
async fn a_retry_after_a_lost_reply_returns_the_original_result_and_writes_nothing_more() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let created = client
        .create_producer(create(individual("1")))
        .await
        .unwrap()
        .into_inner();

    // An update with the etag it read, whose reply is lost.
    let update = pb::UpdateProducerRequest {
        etag: created.etag.clone(),
        request_id: "update-1".into(),
        ..change_npn(&created.id, "2")
    };
    let lost = with_lost_reply(&server, "producers", |deadline| {
        let (mut c, r) = (client.clone(), update.clone());
        async move { c.update_producer(with_deadline(r, deadline)).await }
    })
    .await;
    assert!(
        matches!(lost.code(), Code::Cancelled | Code::DeadlineExceeded),
        "{lost:?}"
    );
    let committed = server.db.footprint();
    let retried = client
        .update_producer(update.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (retried.npn.as_str(), retried.version),
        ("2", 2),
        "the first call's result"
    );
    assert_eq!(server.db.footprint(), committed, "the retry wrote nothing");
    let without_key = client
        .update_producer(pb::UpdateProducerRequest {
            request_id: String::new(),
            ..update
        })
        .await
        .unwrap_err();
    assert_eq!(
        without_key.code(),
        Code::Aborted,
        "without its request_id the same retry would have failed on the etag"
    );

    // A child delete, then the producer's delete.
    let address = client
        .create_address(pb::CreateAddressRequest {
            producer_id: created.id.clone(),
            address: Some(mailing_address()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let delete_address = pb::DeleteAddressRequest {
        producer_id: created.id.clone(),
        address_id: address.id,
        producer_etag: address.producer_etag,
        request_id: "delete-address-1".into(),
    };
    with_lost_reply(&server, "producers", |deadline| {
        let (mut c, r) = (client.clone(), delete_address.clone());
        async move { c.delete_address(with_deadline(r, deadline)).await }
    })
    .await;
    let committed = server.db.footprint();
    let retried = client
        .delete_address(delete_address)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        retried.producer_version, 4,
        "the version right after the delete"
    );
    assert_eq!(server.db.footprint(), committed);

    let delete = pb::DeleteProducerRequest {
        id: created.id.clone(),
        etag: "4".into(),
        request_id: "delete-1".into(),
    };
    with_lost_reply(&server, "producers", |deadline| {
        let (mut c, r) = (client.clone(), delete.clone());
        async move { c.delete_producer(with_deadline(r, deadline)).await }
    })
    .await;
    let committed = server.db.footprint();
    client
        .delete_producer(delete)
        .await
        .expect("the retried delete succeeds instead of answering NOT_FOUND");
    assert_eq!(server.db.footprint(), committed);
}

#[tokio::test]
async fn a_webhook_update_retried_after_a_lost_reply_is_replayed() {
    use crate::support::hooks::{MANAGE, endpoint};
    use crate::support::receiver::Receiver;
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    let (registered, _) = endpoint(&mut hooks, &receiver.url, &["id.producer"]).await;
    let disable = pb::UpdateEndpointRequest {
        id: registered.id.clone(),
        endpoint: Some(pb::Endpoint::default()),
        update_mask: mask(&["enabled"]),
        request_id: "disable-1".into(),
    };
    with_lost_reply(&server, "webhook_endpoints", |deadline| {
        let (mut c, r) = (hooks.clone(), disable.clone());
        async move { c.update_endpoint(with_deadline(r, deadline)).await }
    })
    .await;
    let committed = server.db.footprint();
    let retried = hooks.update_endpoint(disable).await.unwrap().into_inner();
    assert!(!retried.enabled);
    assert_eq!(server.db.footprint(), committed);
}

#[tokio::test]
async fn an_answer_kept_for_a_caller_who_saw_the_ssn_is_not_replayed_to_one_who_cannot() {
    let server = TestServer::start().await;
    let mut with_pii = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let first = with_pii
        .create_producer(keyed(individual("1"), "req-pii"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(person(&first).ssn, "123456789");
    let mut without_pii = server
        .client_for("ACME", "producers:read producers:write")
        .await;
    let replay = without_pii
        .create_producer(keyed(individual("1"), "req-pii"))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&replay), ["request_id"], "{replay:?}");
    assert_eq!(count(&mut with_pii).await, 1);
}

#[tokio::test]
async fn keys_past_their_retention_are_forgotten() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    client
        .create_producer(keyed(firm("1"), "req-old"))
        .await
        .unwrap();
    let mut conn = server.db.connect();
    let kept = producer_profile::storage::request_keys::purge_before(
        &mut conn,
        chrono::Utc::now() - chrono::Duration::hours(1),
        100,
    )
    .unwrap();
    assert_eq!(kept, 0, "a key younger than the cutoff stays");
    let purged = producer_profile::storage::request_keys::purge_before(
        &mut conn,
        chrono::Utc::now() + chrono::Duration::hours(1),
        100,
    )
    .unwrap();
    assert_eq!(purged, 1);
    let rerun = client
        .create_producer(keyed(firm("1"), "req-old"))
        .await
        .unwrap_err();
    assert_eq!(
        rerun.code(),
        Code::AlreadyExists,
        "a forgotten key runs as a new request (here: the NPN is taken)"
    );
}

#[tokio::test]
async fn a_create_key_the_previous_release_recorded_is_not_applied_again() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let producer = client
        .create_producer(create(firm("1")))
        .await
        .unwrap()
        .into_inner();
    // A pod of the previous version recorded this key (client id, unit separator, id)
    // during a rolling upgrade; the retry reaches a pod of this version.
    diesel::sql_query(
        "INSERT INTO create_requests (account_id, request_id, fingerprint, resource_id) \
         VALUES ('ACME', 'client-1' || chr(31) || 'req-legacy', '\\x00', gen_random_uuid())",
    )
    .execute(&mut server.db.connect())
    .unwrap();
    let before = server.db.footprint();
    let retry = client
        .create_address(pb::CreateAddressRequest {
            producer_id: producer.id,
            address: Some(mailing_address()),
            request_id: "req-legacy".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(retry.code(), Code::AlreadyExists, "{retry:?}");
    assert_eq!(server.db.footprint(), before, "nothing created twice");
}

#[tokio::test]
async fn a_request_id_needs_a_token_that_names_its_client() {
    let server = TestServer::start_with(|config| config.auth.strict_rfc9068 = false).await;
    let anonymous = crate::support::TokenSpec::new("ACME", ALL_PRODUCER_SCOPES)
        .without_claim("sub")
        .without_claim("client_id")
        .sign();
    let mut client = server.client(&anonymous).await;
    let refused = client
        .create_producer(keyed(firm("1"), "req"))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&refused), ["request_id"], "{refused:?}");
    client
        .create_producer(create(firm("1")))
        .await
        .expect("without a request_id it is an ordinary create");
}
