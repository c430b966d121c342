//! Webhook delivery — deliveries claimed from Postgres, signed, posted, each attempt and
//! outcome recorded, every producer's events kept in order — against a plain HTTP client
//! posting the same bodies to the same receiver with as many requests in flight as the
//! dispatcher allows one endpoint.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use uuid::Uuid;

use producer_profile::domain::EndpointId;
use producer_profile::storage::webhook_deliveries::{self, NewDelivery};

use crate::Plan;
use crate::measure::{Comparison, drain, until};
use crate::support::hooks::{MANAGE, endpoint};
use crate::support::receiver::Receiver;
use crate::support::server::TestDispatcher;
use crate::support::{ALL_PRODUCER_SCOPES, TestServer, create, individual};

pub const NAME: &str = "webhook_delivery";
const ACCOUNT: &str = "ACME";
/// Producers per round: their events interleave, each producer's in order.
const PRODUCERS: usize = 50;
/// Units of work in a full round.
const FULL_ROUND: usize = 1000;
const LIMIT: Duration = Duration::from_secs(120);

pub async fn run(plan: Plan) -> Comparison {
    let per_round = plan.per_round(FULL_ROUND);
    let receiver = Receiver::start().await;
    let server = TestServer::start().await;
    let mut hooks = server.webhook_client(ACCOUNT, MANAGE).await;
    let (endpoint, _secret) = endpoint(&mut hooks, &receiver.url, &["id.producer"]).await;
    let endpoint_id = EndpointId::from_str(&endpoint.id).expect("an endpoint id");
    let mut config = server.config.clone();
    // Deliveries appear in the table without the intake's wake-up: look often (but not
    // so often that idle polling weighs on the reference rounds).
    config.webhooks.poll_interval_ms = 20;
    // The backlog gauge's scan at its production interval, not the tests' 100 ms: with a
    // thousand deliveries pending it would weigh on our rounds alone.
    config.database.health_interval_ms = producer_profile::config::Config::default()
        .database
        .health_interval_ms;
    let in_flight = config.webhooks.max_in_flight_per_endpoint;
    let dispatcher = TestDispatcher::start(config);

    // One real webhook (the verification request came first): its body is the one sent.
    let mut client = server.client_for(ACCOUNT, ALL_PRODUCER_SCOPES).await;
    client
        .create_producer(create(individual("1")))
        .await
        .expect("CreateProducer");
    until(Instant::now(), LIMIT, || async { receiver.count() >= 2 }).await;
    let body = receiver.received().pop().expect("a webhook").body;

    let pending = Arc::new(Mutex::new(server.db.connect()));
    let http = reqwest::Client::builder()
        .timeout(LIMIT)
        .build()
        .expect("an HTTP client");
    let result = Comparison::new(
        NAME,
        "webhooks",
        per_round,
        "reqwest posting the same bodies, no signature, no records",
    )
    .measure(
        plan.rounds,
        |_| {
            let deliveries = deliveries(endpoint_id, &body, per_round);
            let db = server.db.clone();
            let receiver = receiver.clone();
            let pending = &pending;
            async move {
                let target = receiver.count() + per_round;
                // Committed at once: the clock starts when the dispatcher can see them all.
                tokio::task::spawn_blocking(move || {
                    db.connect()
                        .transaction(|conn| webhook_deliveries::record(conn, ACCOUNT, &deliveries))
                        .expect("recording deliveries");
                })
                .await
                .unwrap();
                let took = until(Instant::now(), LIMIT, || async {
                    receiver.count() >= target
                })
                .await;
                // The last attempts' records are still being written: let them finish.
                until(Instant::now(), LIMIT, || nothing_pending(pending)).await;
                took
            }
        },
        |_| {
            let bodies = vec![body.clone(); per_round];
            let (http, url) = (http.clone(), receiver.url.clone());
            drain(in_flight, bodies, move |body| {
                let (http, url) = (http.clone(), url.clone());
                async move {
                    let answer = http
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .expect("the reference post");
                    assert!(answer.status().is_success());
                }
            })
        },
    )
    .await;
    dispatcher.stop().await;
    result
}

/// `count` deliveries of `PRODUCERS` new producers, each producer's in sequence.
fn deliveries(endpoint_id: EndpointId, body: &str, count: usize) -> Vec<NewDelivery> {
    let producers: Vec<Uuid> = (0..PRODUCERS).map(|_| Uuid::now_v7()).collect();
    (0..count)
        .map(|i| NewDelivery {
            endpoint_id,
            event_id: Uuid::now_v7(),
            producer_id: producers[i % PRODUCERS],
            sequence: (i / PRODUCERS) as i64 + 1,
            webhook_type: "id.producer.updated".into(),
            body: body.to_owned(),
            traceparent: None,
            failed: false,
        })
        .collect()
}

/// Whether every delivery has had its attempt recorded.
async fn nothing_pending(conn: &Arc<Mutex<PgConnection>>) -> bool {
    let conn = conn.clone();
    tokio::task::spawn_blocking(move || {
        use producer_profile::storage::schema::webhook_deliveries::dsl::*;
        webhook_deliveries
            .filter(status.eq("pending"))
            .count()
            .get_result::<i64>(&mut *conn.lock().unwrap())
            .expect("counting pending deliveries")
            == 0
    })
    .await
    .unwrap()
}
