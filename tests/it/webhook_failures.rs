//! Webhooks when things go wrong: redirects, timeouts and hostile answers on record,
//! endpoints disabled, paused by `Retry-After` or deleted mid-retry, endpoints newer than
//! the events, the database failing during intake, two dispatchers sharing the work,
//! attempts recorded together, and a broker that lost the log the intake had read.

use std::time::Duration;

use tonic::Code;

use producer_profile::proto::v1 as pb;

use crate::support::hooks::*;
use crate::support::kafka::{self, Broker};
use crate::support::receiver::{Answer, Receiver};
use crate::support::server::TestDispatcher;
use crate::support::*;

#[tokio::test]
async fn redirects_timeouts_and_hostile_answers_are_failed_attempts_on_record() {
    let server = TestServer::start_with(|config| {
        config.webhooks.retry_schedule = "200ms,200ms,200ms,200ms".into();
    })
    .await;
    let receiver = Receiver::start().await;
    let elsewhere = Receiver::start().await;
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    // Partners put tokens in URLs: they must not reach attempt records.
    let url = format!("{}?token=s3cr3t-token", receiver.url);
    let (endpoint, _) = endpoint(&mut hooks, &url, &["id.producer"]).await;
    let target = elsewhere.url.clone();
    receiver.answer_with(move |_, seen| match seen {
        1 => Answer {
            headers: vec![("location".into(), target.clone())],
            ..Answer::status(302)
        },
        2 => Answer {
            delay: Duration::from_secs(2),
            ..Answer::status(200)
        },
        3 => Answer {
            body: format!("\0{}", "x".repeat(10_000)),
            ..Answer::status(500)
        },
        _ => Answer::status(204),
    });
    let mut config = server.config.clone();
    config.webhooks.delivery_timeout_ms = 1_000;
    let dispatcher = TestDispatcher::start(config);
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    client.create_producer(create(firm("1"))).await.unwrap();
    let mut attempts = poll_until(
        "four attempts on record",
        || attempts_of(hooks.clone(), endpoint.id.clone()),
        |attempts| attempts.len() >= 4,
    )
    .await;
    dispatcher.stop().await;
    attempts.reverse();
    let codes: Vec<i32> = attempts.iter().map(|a| a.status_code).collect();
    assert_eq!(codes, [302, 0, 500, 204]);
    assert!(attempts[0].error.contains("redirects are not followed"));
    assert!(elsewhere.count() == 0, "the redirect was not followed");
    assert!(
        attempts[1].error.contains("timed out"),
        "{}",
        attempts[1].error
    );
    let body = &attempts[2].response_body;
    assert_eq!(body.chars().count(), 4096, "the first 4 KiB");
    assert!(
        body.starts_with('\u{FFFD}'),
        "the NUL is stored as a replacement character"
    );
    assert!(attempts[3].error.is_empty());
    for attempt in &attempts {
        assert!(!attempt.error.contains("s3cr3t"), "{}", attempt.error);
    }
    let deliveries = deliveries_of(
        hooks.clone(),
        endpoint.id.clone(),
        pb::DeliveryStatus::Unspecified,
    )
    .await;
    assert_eq!(deliveries[0].status(), pb::DeliveryStatus::Succeeded);
    assert_eq!(deliveries[0].attempts, 4);
}

#[tokio::test]
async fn events_while_an_endpoint_is_disabled_are_recorded_failed_and_recovered_once_enabled() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    let (endpoint, _) = endpoint(&mut hooks, &receiver.url, &["id.producer"]).await;
    let set_enabled = |enabled: bool| pb::UpdateEndpointRequest {
        request_id: String::new(),
        id: endpoint.id.clone(),
        endpoint: Some(pb::Endpoint {
            enabled,
            ..Default::default()
        }),
        update_mask: update_mask(&["enabled"]),
    };
    hooks.update_endpoint(set_enabled(false)).await.unwrap();
    let dispatcher = TestDispatcher::start(server.config.clone());
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    client.create_producer(create(firm("1"))).await.unwrap();
    let failed = poll_until(
        "the delivery FAILED",
        || {
            deliveries_of(
                hooks.clone(),
                endpoint.id.clone(),
                pb::DeliveryStatus::Failed,
            )
        },
        |failed| !failed.is_empty(),
    )
    .await;
    assert_eq!(failed.len(), 1, "recorded, as failed");
    assert_eq!(failed[0].attempts, 0);
    let recover = pb::RecoverEndpointRequest {
        request_id: String::new(),
        endpoint_id: endpoint.id.clone(),
        since: Some(prost_types::Timestamp::default()),
    };
    let refused = hooks.recover_endpoint(recover.clone()).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);

    hooks.update_endpoint(set_enabled(true)).await.unwrap();
    let recovered = hooks.recover_endpoint(recover).await.unwrap().into_inner();
    assert_eq!(recovered.requeued, 1);
    let received = deliveries_only(
        receiver
            .wait_until(WAIT, "deliveries_only(r.to_vec()).len() == 1", |r| {
                deliveries_only(r.to_vec()).len() == 1
            })
            .await,
    );
    dispatcher.stop().await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].headers["webhook-id"], failed[0].webhook_id);
}

#[tokio::test]
async fn an_endpoint_does_not_receive_events_from_before_it_existed() {
    // One partition: the older event is read before the newer one.
    let server = TestServer::start_with(|config| config.kafka.topic_partitions = 1).await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let older = client
        .create_producer(create(firm("1")))
        .await
        .unwrap()
        .into_inner();
    let receiver = Receiver::start().await;
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    let (endpoint, _) = endpoint(&mut hooks, &receiver.url, &["id.producer"]).await;
    let dispatcher = TestDispatcher::start(server.config.clone());
    let newer = client
        .create_producer(create(firm("2")))
        .await
        .unwrap()
        .into_inner();
    let received = deliveries_only(
        receiver
            .wait_until(WAIT, "!deliveries_only(r.to_vec()).is_empty()", |r| {
                !deliveries_only(r.to_vec()).is_empty()
            })
            .await,
    );
    dispatcher.stop().await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].json()["data"]["producerId"], newer.id.as_str());
    let recorded = deliveries_of(hooks, endpoint.id, pb::DeliveryStatus::Unspecified).await;
    assert!(
        !recorded.is_empty() && recorded.iter().all(|d| d.producer_id != older.id),
        "nothing recorded for the older event"
    );
}

#[tokio::test]
async fn retry_after_pauses_every_delivery_to_the_endpoint() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    let (endpoint, _) = endpoint(&mut hooks, &receiver.url, &["id.producer"]).await;
    // The first delivery is asked to wait two seconds (429 behaves the same).
    receiver.answer_with(|_, seen| {
        if seen == 1 {
            Answer {
                headers: vec![("retry-after".into(), "2".into())],
                ..Answer::status(503)
            }
        } else {
            Answer::status(200)
        }
    });
    let dispatcher = TestDispatcher::start(server.config.clone());
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    client.create_producer(create(firm("1"))).await.unwrap();
    // Once the 503 is on record, another producer's event comes along.
    poll_until(
        "the 503 on record",
        || attempts_of(hooks.clone(), endpoint.id.clone()),
        |attempts| !attempts.is_empty(),
    )
    .await;
    client.create_producer(create(firm("2"))).await.unwrap();
    let received = deliveries_only(
        receiver
            .wait_until(WAIT, "r.len() >= 4", |r| r.len() >= 4)
            .await,
    );
    dispatcher.stop().await;
    assert_eq!(received.len(), 3);
    let paused_at = received[0].at;
    for later in &received[1..] {
        assert!(
            later.at - paused_at >= Duration::from_secs(2),
            "nothing went to the endpoint while it asked for a pause"
        );
    }
}

#[tokio::test]
async fn two_dispatchers_share_the_work_and_keep_each_producers_order() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    endpoint(&mut hooks, &receiver.url, &["id.producer"]).await;
    receiver.answer_with(|_, _| Answer {
        delay: Duration::from_millis(20),
        ..Answer::status(200)
    });
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    producers_with_three_events(&mut client, 6).await;
    let one = TestDispatcher::start(server.config.clone());
    let two = TestDispatcher::start(server.config.clone());
    let received = deliveries_only(
        receiver
            .wait_until(WAIT, "deliveries_only(r.to_vec()).len() >= 18", |r| {
                deliveries_only(r.to_vec()).len() >= 18
            })
            .await,
    );
    one.stop().await;
    two.stop().await;
    assert_eq!(received.len(), 18, "each event once: no claim was shared");
    let order = first_arrivals(&received);
    assert_eq!(order.len(), 6);
    for (producer, sequences) in order {
        assert_eq!(
            sequences,
            [1, 2, 3],
            "producer {producer} in sequence order"
        );
    }
}

#[tokio::test]
async fn an_event_read_while_the_database_fails_is_recorded_once_it_is_back() {
    use diesel::RunQueryDsl;
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    endpoint(&mut hooks, &receiver.url, &["id.producer"]).await;
    // Recording deliveries fails while their table is away.
    let mut admin = server.db.connect();
    diesel::sql_query("ALTER TABLE webhook_deliveries RENAME TO webhook_deliveries_away")
        .execute(&mut admin)
        .unwrap();
    let dispatcher = TestDispatcher::start(server.config.clone());
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    client.create_producer(create(firm("1"))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(deliveries_only(receiver.received()).is_empty());
    diesel::sql_query("ALTER TABLE webhook_deliveries_away RENAME TO webhook_deliveries")
        .execute(&mut admin)
        .unwrap();
    let received = deliveries_only(
        receiver
            .wait_until(WAIT, "!deliveries_only(r.to_vec()).is_empty()", |r| {
                !deliveries_only(r.to_vec()).is_empty()
            })
            .await,
    );
    dispatcher.stop().await;
    assert_eq!(
        received.len(),
        1,
        "the event was kept until it could be recorded"
    );
}

#[tokio::test]
async fn deleting_an_endpoint_with_pending_retries_leaves_the_others_running() {
    let server = TestServer::start_with(|config| {
        config.webhooks.retry_schedule = "500ms,500ms,500ms,500ms,500ms".into();
    })
    .await;
    let failing = Receiver::start().await;
    let healthy = Receiver::start().await;
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    let (doomed, _) = endpoint(&mut hooks, &failing.url, &["id.producer"]).await;
    endpoint(&mut hooks, &healthy.url, &["id.producer"]).await;
    failing.answer_with(|_, _| Answer::status(500));
    let dispatcher = TestDispatcher::start(server.config.clone());
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    client.create_producer(create(firm("1"))).await.unwrap();
    failing
        .wait_until(WAIT, "deliveries_only(r.to_vec()).len() >= 2", |r| {
            deliveries_only(r.to_vec()).len() >= 2
        })
        .await;
    hooks
        .delete_endpoint(pb::DeleteEndpointRequest {
            request_id: String::new(),
            id: doomed.id,
        })
        .await
        .unwrap();
    let attempts_at_delete = deliveries_only(failing.received()).len();
    client.create_producer(create(firm("2"))).await.unwrap();
    let received = deliveries_only(
        healthy
            .wait_until(WAIT, "deliveries_only(r.to_vec()).len() >= 2", |r| {
                deliveries_only(r.to_vec()).len() >= 2
            })
            .await,
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    dispatcher.stop().await;
    assert_eq!(received.len(), 2, "the other endpoint got both events");
    assert!(
        deliveries_only(failing.received()).len() <= attempts_at_delete + 1,
        "at most the attempt already under way reached the deleted endpoint"
    );
}

#[tokio::test]
async fn a_standby_dispatcher_takes_over_the_intake_when_the_reader_dies() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    endpoint(&mut hooks, &receiver.url, &["id.producer"]).await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    // The first dispatcher reads the topic (it was there first); the second stands by.
    let reader = TestDispatcher::start(server.config.clone());
    client.create_producer(create(firm("1"))).await.unwrap();
    receiver
        .wait_until(WAIT, "!deliveries_only(r.to_vec()).is_empty()", |r| {
            !deliveries_only(r.to_vec()).is_empty()
        })
        .await;
    let standby = TestDispatcher::start(server.config.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;
    reader.kill().await;
    // Events after the reader died reach the endpoint through the standby.
    client.create_producer(create(firm("2"))).await.unwrap();
    let received = deliveries_only(
        receiver
            .wait_until(WAIT, "deliveries_only(r.to_vec()).len() >= 2", |r| {
                deliveries_only(r.to_vec()).len() >= 2
            })
            .await,
    );
    standby.stop().await;
    let producers = first_arrivals(&received);
    assert_eq!(producers.len(), 2, "both producers' events: {producers:?}");
}

#[tokio::test]
async fn positions_past_the_end_of_the_topic_are_read_again_from_its_start() {
    // What a broker that lost its log (tansu's memory storage after a restart) or a
    // recreated topic leaves behind: recorded positions the topic no longer reaches.
    let server = TestServer::start().await;
    {
        use diesel::RunQueryDsl;
        let mut conn = server.db.connect();
        for partition in 0..server.config.kafka.topic_partitions as i32 {
            diesel::sql_query(
                "INSERT INTO webhook_intake_offsets (topic, partition, next_offset) \
                 VALUES ($1, $2, 50)",
            )
            .bind::<diesel::sql_types::Text, _>(&server.config.kafka.topic)
            .bind::<diesel::sql_types::Integer, _>(partition)
            .execute(&mut conn)
            .unwrap();
        }
    }
    let receiver = Receiver::start().await;
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    endpoint(&mut hooks, &receiver.url, &["id.producer"]).await;
    let dispatcher = TestDispatcher::start(server.config.clone());
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    client.create_producer(create(firm("1"))).await.unwrap();
    let received = deliveries_only(
        receiver
            .wait_until(WAIT, "!deliveries_only(r.to_vec()).is_empty()", |r| {
                !deliveries_only(r.to_vec()).is_empty()
            })
            .await,
    );
    dispatcher.stop().await;
    // The contract has no "created" type: `data.action` tells.
    assert_eq!(webhook_types(&received), ["id.producer.updated"]);
    assert_eq!(received[0].json()["data"]["action"], "created");
}

#[tokio::test]
async fn after_the_broker_lost_its_log_the_new_one_is_read_from_its_start() {
    let mut broker = Broker::start();
    let server = TestServer::start_with(|config| {
        config.kafka.brokers = broker.address();
        config.kafka.message_timeout_ms = 1_000;
    })
    .await;
    let receiver = Receiver::start().await;
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    endpoint(&mut hooks, &receiver.url, &["id.producer"]).await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let dispatcher = TestDispatcher::start(server.config.clone());
    for npn in 1..=3 {
        client
            .create_producer(create(firm(&npn.to_string())))
            .await
            .unwrap();
    }
    receiver
        .wait_until(WAIT, "deliveries_only(r.to_vec()).len() >= 3", |r| {
            deliveries_only(r.to_vec()).len() >= 3
        })
        .await;
    dispatcher.stop().await;

    // The broker comes back empty; the relay recreates the topic and publishes on. The
    // new log grows past the positions the intake stored for the old one.
    broker.stop();
    broker.restart();
    for npn in 4..=12 {
        client
            .create_producer(create(firm(&npn.to_string())))
            .await
            .unwrap();
    }
    let published = kafka::read(&broker.address(), &server.config.kafka.topic, 9, WAIT).await;
    assert_eq!(published.len(), 9, "the new log holds the nine new events");

    let dispatcher = TestDispatcher::start(server.config.clone());
    let received = deliveries_only(
        receiver
            .wait_until(WAIT, "deliveries_only(r.to_vec()).len() >= 12", |r| {
                deliveries_only(r.to_vec()).len() >= 12
            })
            .await,
    );
    dispatcher.stop().await;
    let producers = first_arrivals(&received);
    assert_eq!(
        producers.len(),
        12,
        "every producer's event, old log and new"
    );
}

#[tokio::test]
async fn attempts_recorded_together_each_keep_their_own_outcome() {
    use std::str::FromStr;

    use chrono::Utc;
    use diesel::prelude::*;
    use producer_profile::domain::webhook::{Attempt, DeliveryStatus};
    use producer_profile::domain::{DeliveryId, EndpointId};
    use producer_profile::storage::schema::{webhook_attempts, webhook_deliveries as rows};
    use producer_profile::storage::webhook_deliveries::{self, FinishedAttempt, NewDelivery};
    use uuid::Uuid;

    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    let (endpoint, _) = endpoint(&mut hooks, &receiver.url, &["id.producer"]).await;
    let endpoint_id = EndpointId::from_str(&endpoint.id).unwrap();
    let mut conn = server.db.connect();
    let new: Vec<NewDelivery> = (0..3)
        .map(|_| NewDelivery {
            endpoint_id,
            event_id: Uuid::now_v7(),
            producer_id: Uuid::now_v7(),
            sequence: 1,
            webhook_type: "id.producer.updated".into(),
            body: "{}".into(),
            traceparent: None,
            failed: false,
        })
        .collect();
    conn.transaction(|conn| webhook_deliveries::record(conn, "ACME", &new))
        .unwrap();
    let mut claimed =
        webhook_deliveries::claim_due(&mut conn, 10, &[], 10, Duration::from_secs(60)).unwrap();
    claimed.sort_by_key(|due| due.id);
    assert_eq!(claimed.len(), 3);
    // The second one's endpoint deletion took it meanwhile; the third one's claim lapsed
    // and another dispatcher holds it now.
    diesel::delete(rows::table.find(claimed[1].id))
        .execute(&mut conn)
        .unwrap();
    let finished: Vec<FinishedAttempt> = claimed
        .iter()
        .enumerate()
        .map(|(n, due)| FinishedAttempt {
            attempt: Attempt {
                id: Uuid::now_v7(),
                delivery_id: DeliveryId::from_uuid(due.id),
                attempted_at: Utc::now(),
                status_code: Some(204),
                latency_ms: 3,
                error: None,
                response_body: String::new(),
            },
            endpoint_id,
            lease_token: if n == 2 {
                Uuid::now_v7()
            } else {
                due.lease_token
            },
            next: (DeliveryStatus::Succeeded, None),
        })
        .collect();
    let recorded = webhook_deliveries::finish_attempts(&mut conn, &finished, |_, recorded| {
        Ok(recorded.to_vec())
    })
    .unwrap();
    assert_eq!(
        recorded,
        [true, false, true],
        "the gone delivery is left out"
    );
    let state = |conn: &mut PgConnection, id: Uuid| {
        rows::table
            .find(id)
            .select((
                rows::status,
                rows::attempts,
                rows::lease_token.is_not_null(),
            ))
            .first::<(String, i32, bool)>(conn)
            .unwrap()
    };
    assert_eq!(
        state(&mut conn, claimed[0].id),
        ("succeeded".into(), 1, false)
    );
    assert_eq!(
        state(&mut conn, claimed[2].id),
        ("pending".into(), 0, true),
        "a lapsed claim's outcome leaves the delivery to its new holder"
    );
    let logged: Vec<Uuid> = webhook_attempts::table
        .select(webhook_attempts::delivery_id)
        .order(webhook_attempts::delivery_id)
        .load(&mut conn)
        .unwrap();
    assert_eq!(
        logged,
        [claimed[0].id, claimed[2].id],
        "both attempts are on record"
    );
}

#[tokio::test]
async fn records_read_together_store_each_partitions_last_position() {
    use producer_profile::storage::intake_offsets::{self, Position};
    use producer_profile::storage::webhook_deliveries::{self, IntakeRecord};

    let server = TestServer::start().await;
    let mut conn = server.db.connect();
    let at = |partition, next_offset| IntakeRecord {
        partition,
        position: Position {
            next_offset,
            last_event_id: None,
        },
        event: None,
    };
    let records = [at(0, 5), at(1, 3), at(0, 9), at(2, 1), at(1, 4)];
    let recorded = webhook_deliveries::record_intake(&mut conn, "topic-a", &records).unwrap();
    assert_eq!(
        recorded, 0,
        "undeliverable records only move their positions"
    );
    let mut stored: Vec<(i32, i64)> = intake_offsets::positions(&mut conn, "topic-a")
        .unwrap()
        .into_iter()
        .map(|(partition, position)| (partition, position.next_offset))
        .collect();
    stored.sort();
    assert_eq!(stored, [(0, 9), (1, 4), (2, 1)]);
}
