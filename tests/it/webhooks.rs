//! Webhooks end to end: endpoints by API (verified, secret shown once, SSRF-guarded),
//! the dispatcher consuming the real topic and posting to a real receiver on loopback:
//! signatures that verify with an independent implementation, rotation, the retry
//! schedule, per-producer order, 410, Retry-After, a dispatcher killed mid-run,
//! redelivery and recovery.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tonic::Code;

use producer_profile::proto::v1 as pb;

use crate::support::hooks::*;
use crate::support::receiver::{Answer, Receiver, signature_verifies};
use crate::support::server::TestDispatcher;
use crate::support::*;

#[tokio::test]
async fn an_endpoint_is_verified_then_receives_signed_events() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    let (endpoint, secret) = endpoint(&mut hooks, &receiver.url, &["id.producer"]).await;
    assert!(secret.starts_with("whsec_"));
    assert!(endpoint.enabled);
    let verification = &receiver.received()[0];
    assert_eq!(verification.json()["type"], "webhook.endpoint.verification");
    assert!(
        signature_verifies(verification, &secret),
        "the verification request is signed"
    );

    let dispatcher = TestDispatcher::start(server.config.clone());
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let producer = client
        .create_producer(create(individual("1")))
        .await
        .unwrap()
        .into_inner();
    client
        .create_address(pb::CreateAddressRequest {
            producer_id: producer.id.clone(),
            address: Some(mailing_address()),
            ..Default::default()
        })
        .await
        .unwrap();
    client
        .create_bank_account(pb::CreateBankAccountRequest {
            producer_id: producer.id.clone(),
            bank_account: Some(checking_account()),
            ..Default::default()
        })
        .await
        .unwrap();
    let received = deliveries_only(
        receiver
            .wait_until(WAIT, "r.len() >= 4", |r| r.len() >= 4)
            .await,
    );
    assert_eq!(
        webhook_types(&received),
        [
            "id.producer.updated",
            "id.producer.address.updated",
            "id.producer.bank_account.updated"
        ]
    );
    for delivery in &received {
        assert!(signature_verifies(delivery, &secret), "{}", delivery.body);
        let body = delivery.json();
        assert_eq!(delivery.headers["webhook-id"], body["id"].as_str().unwrap());
        assert!(body["id"].as_str().unwrap().starts_with("whe_"));
        assert_eq!(body["data"]["action"], "created");
        assert_eq!(body["data"]["producerId"], producer.id);
        assert_eq!(delivery.headers["content-type"], "application/json");
        for secret_value in ["123456789", "123-45-6789", "000123456789"] {
            assert!(
                !delivery.body.contains(secret_value),
                "{secret_value} in {}",
                delivery.body
            );
        }
    }
    let sequences: Vec<i64> = received
        .iter()
        .map(|r| r.json()["data"]["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(sequences, [1, 2, 3]);
    assert_eq!(
        received[2].json()["data"]["bankAccount"]["number"],
        "****6789"
    );
    dispatcher.stop().await;

    let listed = hooks
        .list_deliveries(pb::ListDeliveriesRequest {
            endpoint_id: endpoint.id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.deliveries.len(), 3);
    assert!(
        listed
            .deliveries
            .iter()
            .all(|d| d.status == pb::DeliveryStatus::Succeeded as i32)
    );
}

#[tokio::test]
async fn an_endpoint_that_refuses_verification_is_not_saved_and_the_error_says_why() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    receiver.answer_with(|_, _| Answer {
        body: "no such hook".into(),
        ..Answer::status(404)
    });
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    let status = create_error(&mut hooks, &receiver.url).await;
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().contains("404") && status.message().contains("no such hook"),
        "{}",
        status.message()
    );
    // Nothing listening: unreachable, which is not a refused (invalid) URL.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    let status = create_error(&mut hooks, &closed_url).await;
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("onnect"), "{}", status.message());
    let listed = hooks
        .list_endpoints(pb::ListEndpointsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.endpoints.is_empty());
}

#[tokio::test]
async fn private_loopback_link_local_and_mapped_targets_are_refused_when_the_switch_is_off() {
    let server =
        TestServer::start_with(|config| config.webhooks.allow_private_targets = false).await;
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    for url in [
        "https://127.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.8/hook",
        "https://192.168.1.2/hook",
        "https://100.64.0.1/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[::ffff:169.254.169.254]/hook",
        "https://[fd00::1]/hook",
        "https://localhost/hook",
        "http://example.com/hook",
    ] {
        let status = create_error(&mut hooks, url).await;
        assert_eq!(
            violated_fields(&status),
            ["endpoint.url"],
            "{url}: {status:?}"
        );
    }
}

#[tokio::test]
async fn metadata_and_link_local_targets_are_refused_even_with_the_local_switch_on() {
    let server = TestServer::start().await;
    assert!(server.config.webhooks.allow_private_targets);
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    for url in [
        "http://169.254.169.254/latest/meta-data",
        "http://[fd00:ec2::254]/latest/meta-data",
        "http://100.100.100.200/latest/meta-data",
        "http://[::ffff:169.254.169.254]/",
        "http://[fe80::1]/hook",
        "http://0.0.0.0/hook",
    ] {
        let status = create_error(&mut hooks, url).await;
        assert_eq!(
            violated_fields(&status),
            ["endpoint.url"],
            "{url}: {status:?}"
        );
        assert!(
            status.message().contains("not a public address"),
            "{url}: {status:?}"
        );
    }
}

#[tokio::test]
async fn failed_attempts_follow_the_retry_schedule_until_one_succeeds() {
    // Delays far enough apart that each gap shows which one was used.
    let server = TestServer::start_with(|config| {
        config.webhooks.retry_schedule = "300ms,1500ms,3s".into();
    })
    .await;
    let receiver = Receiver::start().await;
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    let (endpoint, _) = endpoint(&mut hooks, &receiver.url, &["id.producer.updated"]).await;
    // Verification passed; now fail the first two deliveries.
    receiver.answer_with(|_, seen| {
        if seen < 3 {
            Answer {
                body: "busy".into(),
                ..Answer::status(500)
            }
        } else {
            Answer::status(200)
        }
    });
    let dispatcher = TestDispatcher::start(server.config.clone());
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    client.create_producer(create(firm("1"))).await.unwrap();
    let received = deliveries_only(
        receiver
            .wait_until(WAIT, "r.len() >= 4", |r| r.len() >= 4)
            .await,
    );
    assert_eq!(received.len(), 3);
    let gaps: Vec<Duration> = received.windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(
        gaps[0] >= Duration::from_millis(300) && gaps[0] < Duration::from_millis(1500),
        "first retry after the first delay: {gaps:?}"
    );
    assert!(
        gaps[1] >= Duration::from_millis(1500) && gaps[1] < Duration::from_secs(3),
        "second retry after the second delay: {gaps:?}"
    );
    let ids: HashSet<&str> = received
        .iter()
        .map(|r| r.headers["webhook-id"].as_str())
        .collect();
    assert_eq!(ids.len(), 1, "one webhook id on every attempt");
    dispatcher.stop().await;

    let attempts = hooks
        .list_attempts(pb::ListAttemptsRequest {
            endpoint_id: endpoint.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let codes: Vec<i32> = attempts
        .attempts
        .iter()
        .rev()
        .map(|a| a.status_code)
        .collect();
    assert_eq!(codes, [500, 500, 200]);
    assert_eq!(attempts.attempts[2].response_body, "busy");
    assert!(attempts.attempts[2].error.contains("500"));
}

#[tokio::test]
async fn a_producers_later_event_waits_while_an_earlier_one_is_retried_others_go_on() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    endpoint(&mut hooks, &receiver.url, &["id.producer"]).await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let slow = client
        .create_producer(create(firm("1")))
        .await
        .unwrap()
        .into_inner();
    // The first event of producer 1 fails twice before it is accepted.
    let failures = Arc::new(AtomicUsize::new(0));
    let counter = failures.clone();
    let slow_id = slow.id.clone();
    receiver.answer_with(move |request, _| {
        let body = request.json();
        if body["data"]["producerId"] == slow_id.as_str()
            && body["data"]["sequence"] == 1
            && counter.fetch_add(1, Ordering::SeqCst) < 2
        {
            Answer::status(503)
        } else {
            Answer::status(200)
        }
    });
    client
        .update_producer(change_npn(&slow.id, "2"))
        .await
        .unwrap();
    client
        .update_producer(change_npn(&slow.id, "3"))
        .await
        .unwrap();
    let other = client
        .create_producer(create(firm("9")))
        .await
        .unwrap()
        .into_inner();
    let dispatcher = TestDispatcher::start(server.config.clone());
    let received = deliveries_only(
        receiver
            .wait_until(WAIT, "r.len() >= 7", |r| r.len() >= 7)
            .await,
    );
    dispatcher.stop().await;

    let of = |id: &str| -> Vec<i64> {
        received
            .iter()
            .filter(|r| r.json()["data"]["producerId"] == id)
            .map(|r| r.json()["data"]["sequence"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(
        of(&slow.id),
        [1, 1, 1, 2, 3],
        "in sequence order, the later ones waiting"
    );
    assert_eq!(of(&other.id), [1]);
    let other_at = received
        .iter()
        .position(|r| r.json()["data"]["producerId"] == other.id)
        .unwrap();
    let slow_done = received
        .iter()
        .rposition(|r| {
            r.json()["data"]["producerId"] == slow.id && r.json()["data"]["sequence"] == 1
        })
        .unwrap();
    assert!(
        other_at < slow_done,
        "another producer was not held up by the retries"
    );
}

#[tokio::test]
async fn a_slow_endpoint_holds_only_its_own_slots_while_a_healthy_one_is_served() {
    let server = TestServer::start().await;
    let (slow, healthy) = (Receiver::start().await, Receiver::start().await);
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    endpoint(&mut hooks, &slow.url, &["id.producer"]).await;
    endpoint(&mut hooks, &healthy.url, &["id.producer"]).await;
    slow.answer_with(|_, _| Answer {
        delay: Duration::from_millis(600),
        ..Answer::status(200)
    });
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    const PRODUCERS: usize = 12;
    for n in 1..=PRODUCERS {
        client
            .create_producer(create(firm(&n.to_string())))
            .await
            .unwrap();
    }
    let limit = server.config.webhooks.max_in_flight_per_endpoint;
    let dispatcher = TestDispatcher::start(server.config.clone());
    let healthy_done = deliveries_only(
        healthy
            .wait_until(WAIT, "every event at the healthy endpoint", |r| {
                deliveries_only(r.to_vec()).len() >= PRODUCERS
            })
            .await,
    );
    let slow_seen_then = deliveries_only(slow.received()).len();
    let slow_done = deliveries_only(
        slow.wait_until(WAIT, "every event at the slow endpoint", |r| {
            deliveries_only(r.to_vec()).len() >= PRODUCERS
        })
        .await,
    );
    dispatcher.stop().await;
    assert_eq!(healthy_done.len(), PRODUCERS);
    assert_eq!(slow_done.len(), PRODUCERS, "each event once");
    assert!(
        slow_seen_then < PRODUCERS,
        "the healthy endpoint had all its events before the slow one had its own ({slow_seen_then} of {PRODUCERS})"
    );
    assert!(
        slow.most_at_once() <= limit,
        "at most {limit} requests at once to one endpoint, saw {}",
        slow.most_at_once()
    );
    assert!(
        slow.most_at_once() >= 2,
        "its attempts ran side by side (most at once: {})",
        slow.most_at_once()
    );
}

#[tokio::test]
async fn an_endpoint_that_answers_again_gets_its_waiting_retries_at_once() {
    // The second retry would come only after a minute.
    let server =
        TestServer::start_with(|config| config.webhooks.retry_schedule = "300ms,60s".into()).await;
    let receiver = Receiver::start().await;
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    endpoint(&mut hooks, &receiver.url, &["id.producer"]).await;
    let down = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let is_down = down.clone();
    receiver.answer_with(move |_, _| {
        if is_down.load(Ordering::SeqCst) {
            Answer::status(503)
        } else {
            Answer::status(200)
        }
    });
    let dispatcher = TestDispatcher::start(server.config.clone());
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let waiting = client
        .create_producer(create(firm("1")))
        .await
        .unwrap()
        .into_inner();
    // Its first attempt and first retry fail: the next one is a minute away.
    receiver
        .wait_until(WAIT, "deliveries_only(r.to_vec()).len() >= 2", |r| {
            deliveries_only(r.to_vec()).len() >= 2
        })
        .await;
    down.store(false, Ordering::SeqCst);
    // Another producer's event reaches the endpoint, which answers again.
    let other = client
        .create_producer(create(firm("2")))
        .await
        .unwrap()
        .into_inner();
    let received = receiver
        .wait_until(
            Duration::from_secs(15),
            "three deliveries of the waiting producer's events",
            |r| {
                deliveries_only(r.to_vec())
                    .iter()
                    .filter(|r| r.json()["data"]["producerId"] == waiting.id.as_str())
                    .count()
                    >= 3
            },
        )
        .await;
    dispatcher.stop().await;
    let ids: Vec<String> = deliveries_only(received)
        .iter()
        .map(|r| r.json()["data"]["producerId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        [waiting.id.as_str(), &waiting.id, &other.id, &waiting.id],
        "the waiting retry went out right after the endpoint answered, not a minute later"
    );
}

#[tokio::test]
async fn a_410_disables_the_endpoint() {
    let server = TestServer::start().await;
    let gone = Receiver::start().await;
    let other = Receiver::start().await;
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    let (gone_endpoint, _) = endpoint(&mut hooks, &gone.url, &["id.producer"]).await;
    endpoint(&mut hooks, &other.url, &["id.producer"]).await;
    gone.answer_with(|_, _| Answer::status(410));
    let dispatcher = TestDispatcher::start(server.config.clone());
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    client.create_producer(create(firm("1"))).await.unwrap();
    let disabled = poll_until(
        "the endpoint disabled after its 410",
        || endpoint_now(hooks.clone(), gone_endpoint.id.clone()),
        |now| !now.enabled,
    )
    .await;
    assert!(!disabled.enabled);
    assert!(disabled.disabled_reason.contains("410"));
    // The next event reaches the other endpoint, and not the one that is gone.
    client.create_producer(create(firm("2"))).await.unwrap();
    other
        .wait_until(WAIT, "deliveries_only(r.to_vec()).len() >= 2", |r| {
            deliveries_only(r.to_vec()).len() >= 2
        })
        .await;
    dispatcher.stop().await;
    assert_eq!(
        deliveries_only(gone.received()).len(),
        1,
        "nothing more after 410"
    );
}

#[tokio::test]
async fn an_endpoint_failing_for_the_configured_time_is_disabled() {
    use diesel::RunQueryDsl;
    let server = TestServer::start().await;
    let failing = Receiver::start().await;
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    let (endpoint, _) = endpoint(&mut hooks, &failing.url, &["id.producer"]).await;
    failing.answer_with(|_, _| Answer::status(500));
    // Five days of failures are simulated by backdating the start of the failing run.
    let backdated = diesel::sql_query(
        "UPDATE webhook_endpoints SET failing_since = now() - interval '121 hours' WHERE url = $1",
    )
    .bind::<diesel::sql_types::Text, _>(&failing.url)
    .execute(&mut server.db.connect())
    .unwrap();
    assert_eq!(backdated, 1);

    let dispatcher = TestDispatcher::start(server.config.clone());
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    client.create_producer(create(firm("1"))).await.unwrap();
    failing
        .wait_until(WAIT, "!deliveries_only(r.to_vec()).is_empty()", |r| {
            !deliveries_only(r.to_vec()).is_empty()
        })
        .await;
    let disabled = poll_until(
        "the endpoint disabled by the failure limit",
        || endpoint_now(hooks.clone(), endpoint.id.clone()),
        |now| !now.enabled,
    )
    .await;
    dispatcher.stop().await;
    assert!(!disabled.enabled, "disabled after five days of failures");
    assert!(disabled.disabled_reason.contains("120 hours"));
    let deliveries = deliveries_of(
        hooks.clone(),
        endpoint.id.clone(),
        pb::DeliveryStatus::Unspecified,
    )
    .await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].status(), pb::DeliveryStatus::Failed);
    assert_eq!(
        deliveries_only(failing.received()).len(),
        1,
        "no retries once disabled"
    );
}

#[tokio::test]
async fn a_rotated_secret_signs_alongside_the_old_one() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    let (endpoint, old_secret) = endpoint(&mut hooks, &receiver.url, &["id.producer"]).await;
    let rotated = hooks
        .rotate_endpoint_secret(pb::RotateEndpointSecretRequest {
            request_id: String::new(),
            id: endpoint.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_ne!(rotated.secret, old_secret);
    let dispatcher = TestDispatcher::start(server.config.clone());
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    client.create_producer(create(firm("1"))).await.unwrap();
    let received = deliveries_only(
        receiver
            .wait_until(WAIT, "r.len() >= 2", |r| r.len() >= 2)
            .await,
    );
    let delivery = &received[0];
    assert_eq!(delivery.headers["webhook-signature"].split(' ').count(), 2);
    assert!(
        signature_verifies(delivery, &rotated.secret),
        "the new secret verifies"
    );
    assert!(
        signature_verifies(delivery, &old_secret),
        "the old one too, during the overlap"
    );

    // Once the overlap is over (moved into the past here), only the new secret signs.
    use diesel::RunQueryDsl;
    diesel::sql_query(
        "UPDATE webhook_endpoints SET previous_secret_expires_at = now() - interval '1 second'",
    )
    .execute(&mut server.db.connect())
    .unwrap();
    client.create_producer(create(firm("2"))).await.unwrap();
    let received = deliveries_only(
        receiver
            .wait_until(WAIT, "r.len() >= 3", |r| r.len() >= 3)
            .await,
    );
    dispatcher.stop().await;
    let later = &received[1];
    assert_eq!(later.headers["webhook-signature"].split(' ').count(), 1);
    assert!(signature_verifies(later, &rotated.secret));
    assert!(!signature_verifies(later, &old_secret));
}

#[tokio::test]
async fn a_dispatcher_killed_mid_run_and_restarted_delivers_every_event() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    endpoint(&mut hooks, &receiver.url, &["id.producer"]).await;
    // Slow answers, so the kill catches attempts in flight.
    receiver.answer_with(|_, _| Answer {
        delay: Duration::from_millis(150),
        ..Answer::status(200)
    });
    // Four producers with three events each (created, then two changes).
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let producers = producers_with_three_events(&mut client, 4).await;
    const EVENTS: usize = 12;
    // A short timeout keeps the killed dispatcher's leases short (2 × 1 s + 2 × the
    // database wait + 5 s): the restarted one takes its claims over when they expire.
    let mut config = server.config.clone();
    config.webhooks.delivery_timeout_ms = 1_000;
    let first = TestDispatcher::start(config.clone());
    receiver
        .wait_until(WAIT, "r.len() >= 3", |r| r.len() >= 3)
        .await;
    first.kill().await;
    let delivered_before_kill: HashSet<String> = deliveries_only(receiver.received())
        .iter()
        .map(|r| r.headers["webhook-id"].clone())
        .collect();
    assert!(
        delivered_before_kill.len() < EVENTS,
        "the kill interrupted the run"
    );
    let second = TestDispatcher::start(config);
    let received = deliveries_only(
        receiver
            .wait_until(
                Duration::from_secs(60),
                "every event's webhook id at least once",
                |r| {
                    let ids: HashSet<String> =
                        r.iter().map(|x| x.headers["webhook-id"].clone()).collect();
                    ids.len() > EVENTS // and the verification request
                },
            )
            .await,
    );
    second.stop().await;
    let mut by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &received {
        by_id
            .entry(r.headers["webhook-id"].clone())
            .or_default()
            .push(r.body.clone());
    }
    assert_eq!(by_id.len(), EVENTS, "every event delivered");
    // At least once: a repeat is allowed, but each event first arrives in order.
    let order = first_arrivals(&received);
    for producer in &producers {
        assert_eq!(
            order[producer],
            [1, 2, 3],
            "producer {producer} in sequence order"
        );
    }
    for bodies in by_id.values() {
        assert!(
            bodies.windows(2).all(|w| w[0] == w[1]),
            "a duplicate is the same webhook"
        );
    }
}

#[tokio::test]
async fn failed_deliveries_are_replayed_by_redeliver_and_recover() {
    let mut config_server =
        TestServer::start_with(|config| config.webhooks.retry_schedule = "100ms".into()).await;
    let receiver = Receiver::start().await;
    let mut hooks = config_server.webhook_client("ACME", MANAGE).await;
    let (endpoint, _) = endpoint(&mut hooks, &receiver.url, &["id.producer"]).await;
    receiver.answer_with(|_, _| Answer::status(500));
    let dispatcher = TestDispatcher::start(config_server.config.clone());
    let started = chrono::Utc::now() - chrono::Duration::seconds(5);
    let mut client = config_server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    client.create_producer(create(firm("1"))).await.unwrap();
    client.create_producer(create(firm("2"))).await.unwrap();
    let reader = hooks.clone();
    let failed = || {
        deliveries_of(
            reader.clone(),
            endpoint.id.clone(),
            pb::DeliveryStatus::Failed,
        )
    };
    let deliveries = poll_until("two FAILED deliveries", failed, |failed| failed.len() == 2).await;
    assert_eq!(deliveries.len(), 2, "two attempts each, then failed");

    receiver.answer_with(|_, _| Answer::status(200));
    let one = hooks
        .redeliver_event(pb::RedeliverEventRequest {
            request_id: String::new(),
            endpoint_id: endpoint.id.clone(),
            event_id: deliveries[0].event_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one.status, pb::DeliveryStatus::Pending as i32);
    let redelivered = receiver
        .wait_until(WAIT, "the redelivered event's third attempt", |r| {
            r.iter()
                .filter(|x| x.headers.get("webhook-id") == Some(&one.webhook_id))
                .count()
                >= 3
        })
        .await;
    assert_eq!(
        redelivered
            .iter()
            .filter(|x| x.headers["webhook-id"] == one.webhook_id)
            .count(),
        3
    );
    let recovered = hooks
        .recover_endpoint(pb::RecoverEndpointRequest {
            request_id: String::new(),
            endpoint_id: endpoint.id.clone(),
            since: Some(prost_types::Timestamp {
                seconds: started.timestamp(),
                nanos: 0,
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(recovered.requeued, 1, "the other failed delivery");
    receiver
        .wait_until(WAIT, "the recovered event's third attempt", |r| {
            r.iter()
                .filter(|x| x.headers.get("webhook-id") == Some(&deliveries[1].webhook_id))
                .count()
                >= 3
        })
        .await;
    let succeeded = poll_until(
        "both replayed deliveries SUCCEEDED",
        || {
            deliveries_of(
                reader.clone(),
                endpoint.id.clone(),
                pb::DeliveryStatus::Succeeded,
            )
        },
        |succeeded| succeeded.len() == 2,
    )
    .await;
    dispatcher.stop().await;
    let replayed: HashSet<&str> = succeeded.iter().map(|d| d.event_id.as_str()).collect();
    let wanted: HashSet<&str> = deliveries.iter().map(|d| d.event_id.as_str()).collect();
    assert_eq!(
        replayed, wanted,
        "the redelivered and the recovered event went through"
    );
    let none_failed = failed().await;
    assert!(none_failed.is_empty(), "{none_failed:?}");
    config_server.begin_stop();
}

#[tokio::test]
async fn the_dispatcher_refuses_private_targets_when_the_switch_is_off() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    let (endpoint, _) = endpoint(&mut hooks, &receiver.url, &["id.producer"]).await;
    let mut strict = server.config.clone();
    strict.webhooks.allow_private_targets = false;
    let dispatcher = TestDispatcher::start(strict);
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    client.create_producer(create(firm("1"))).await.unwrap();
    let attempts = poll_until(
        "an attempt on record",
        || attempts_of(hooks.clone(), endpoint.id.clone()),
        |attempts| !attempts.is_empty(),
    )
    .await;
    dispatcher.stop().await;
    assert!(!attempts.is_empty());
    assert_eq!(attempts[0].status_code, 0);
    assert!(
        attempts[0].error.contains("refused"),
        "{}",
        attempts[0].error
    );
    assert_eq!(
        deliveries_only(receiver.received()).len(),
        0,
        "nothing reached the receiver"
    );
}

#[tokio::test]
async fn endpoints_are_managed_per_account_with_the_scope() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    let (endpoint, _) = endpoint(
        &mut hooks,
        &receiver.url,
        &["id.producer.address.updated", "id.producer.deleted"],
    )
    .await;
    assert_eq!(
        endpoint.event_types,
        ["id.producer.deleted", "id.producer.address.updated"]
    );

    // Another account cannot reach the endpoint through any RPC.
    let mut other = server.webhook_client("GLOBEX", MANAGE).await;
    let id = endpoint.id.clone();
    let event_id = uuid::Uuid::now_v7().to_string();
    let hidden = [
        other
            .get_endpoint(pb::GetEndpointRequest { id: id.clone() })
            .await
            .map(drop),
        other
            .update_endpoint(pb::UpdateEndpointRequest {
                request_id: String::new(),
                id: id.clone(),
                endpoint: Some(pb::Endpoint {
                    description: "taken".into(),
                    ..Default::default()
                }),
                update_mask: update_mask(&["description"]),
            })
            .await
            .map(drop),
        other
            .rotate_endpoint_secret(pb::RotateEndpointSecretRequest {
                request_id: String::new(),
                id: id.clone(),
            })
            .await
            .map(drop),
        other
            .send_test_event(pb::SendTestEventRequest {
                request_id: String::new(),
                endpoint_id: id.clone(),
                event_type: "id.producer.updated".into(),
            })
            .await
            .map(drop),
        other
            .list_deliveries(pb::ListDeliveriesRequest {
                endpoint_id: id.clone(),
                ..Default::default()
            })
            .await
            .map(drop),
        other
            .list_attempts(pb::ListAttemptsRequest {
                endpoint_id: id.clone(),
                ..Default::default()
            })
            .await
            .map(drop),
        other
            .redeliver_event(pb::RedeliverEventRequest {
                request_id: String::new(),
                endpoint_id: id.clone(),
                event_id,
            })
            .await
            .map(drop),
        other
            .recover_endpoint(pb::RecoverEndpointRequest {
                request_id: String::new(),
                endpoint_id: id.clone(),
                since: Some(prost_types::Timestamp::default()),
            })
            .await
            .map(drop),
        other
            .delete_endpoint(pb::DeleteEndpointRequest {
                request_id: String::new(),
                id: id.clone(),
            })
            .await
            .map(drop),
    ];
    for (rpc, result) in hidden.into_iter().enumerate() {
        assert_eq!(result.unwrap_err().code(), Code::NotFound, "rpc #{rpc}");
    }
    assert!(
        other
            .list_endpoints(pb::ListEndpointsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .endpoints
            .is_empty()
    );
    let unchanged = hooks
        .get_endpoint(pb::GetEndpointRequest { id: id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unchanged.description, "partner");
    let mut no_scope = server.webhook_client("ACME", "producers:read").await;
    let denied = no_scope
        .list_endpoints(pb::ListEndpointsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    let updated = hooks
        .update_endpoint(pb::UpdateEndpointRequest {
            request_id: String::new(),
            id: endpoint.id.clone(),
            endpoint: Some(pb::Endpoint {
                event_types: vec!["id.producer".into()],
                enabled: false,
                ..Default::default()
            }),
            update_mask: update_mask(&["event_types", "enabled"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (updated.event_types.as_slice(), updated.enabled),
        (&["id.producer".to_string()][..], false)
    );
    let bad = hooks
        .update_endpoint(pb::UpdateEndpointRequest {
            request_id: String::new(),
            id: endpoint.id.clone(),
            endpoint: Some(pb::Endpoint {
                event_types: vec!["id.producer.moved".into()],
                ..Default::default()
            }),
            update_mask: update_mask(&["event_types", "secret"]),
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&bad), ["update_mask"]);

    let to_disabled = hooks
        .send_test_event(pb::SendTestEventRequest {
            request_id: String::new(),
            endpoint_id: endpoint.id.clone(),
            event_type: "id.producer.phone.deleted".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(to_disabled.code(), Code::FailedPrecondition);
    hooks
        .update_endpoint(pb::UpdateEndpointRequest {
            request_id: String::new(),
            id: endpoint.id.clone(),
            endpoint: Some(pb::Endpoint {
                enabled: true,
                ..Default::default()
            }),
            update_mask: update_mask(&["enabled"]),
        })
        .await
        .unwrap();
    let test = hooks
        .send_test_event(pb::SendTestEventRequest {
            request_id: String::new(),
            endpoint_id: endpoint.id.clone(),
            event_type: "id.producer.phone.deleted".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(test.event_type, "id.producer.phone.deleted");
    hooks
        .delete_endpoint(pb::DeleteEndpointRequest {
            request_id: String::new(),
            id: endpoint.id.clone(),
        })
        .await
        .unwrap();
    let gone = hooks
        .get_endpoint(pb::GetEndpointRequest { id: endpoint.id })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test]
async fn a_test_event_is_delivered_and_subscriptions_filter_types() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    let (endpoint, secret) =
        endpoint(&mut hooks, &receiver.url, &["id.producer.address.updated"]).await;
    let dispatcher = TestDispatcher::start(server.config.clone());
    hooks
        .send_test_event(pb::SendTestEventRequest {
            request_id: String::new(),
            endpoint_id: endpoint.id.clone(),
            event_type: "id.producer.bank_account.updated".into(),
        })
        .await
        .unwrap();
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let producer = client
        .create_producer(create(firm("1")))
        .await
        .unwrap()
        .into_inner();
    client
        .create_address(pb::CreateAddressRequest {
            producer_id: producer.id,
            address: Some(mailing_address()),
            ..Default::default()
        })
        .await
        .unwrap();
    let received = deliveries_only(
        receiver
            .wait_until(WAIT, "r.len() >= 3", |r| r.len() >= 3)
            .await,
    );
    dispatcher.stop().await;
    assert_eq!(
        webhook_types(&received)
            .iter()
            .filter(|t| *t == "id.producer.bank_account.updated")
            .count(),
        1
    );
    assert_eq!(
        webhook_types(&received)
            .iter()
            .filter(|t| *t == "id.producer.address.updated")
            .count(),
        1
    );
    assert!(
        !webhook_types(&received).contains(&"id.producer.updated".to_string()),
        "not subscribed"
    );
    let test = received
        .iter()
        .find(|r| r.json()["data"]["test"] == true)
        .unwrap();
    assert!(signature_verifies(test, &secret));
}
