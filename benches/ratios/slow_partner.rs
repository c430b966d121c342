//! One slow partner among healthy ones: the healthy endpoint's webhook latency (p99, from
//! the delivery's commit to its arrival) while another endpoint answers every request
//! after 2 s, against the same load with the slow endpoint paused. Deliveries arrive at a
//! steady rate (open loop), each producer's in order, as the intake would record them.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use uuid::Uuid;

use producer_profile::domain::EndpointId;
use producer_profile::storage::schema::webhook_endpoints;
use producer_profile::storage::webhook_deliveries::{self, NewDelivery};

use crate::Plan;
use crate::measure::{Comparison, until};
use crate::support::TestServer;
use crate::support::hooks::{MANAGE, endpoint};
use crate::support::receiver::{Answer, Receiver};
use crate::support::server::TestDispatcher;

pub const NAME: &str = "slow_partner";
const ACCOUNT: &str = "ACME";
/// Healthy deliveries per full round, and how many are recorded per second.
const FULL_ROUND: usize = 300;
const PER_SECOND: f64 = 100.0;
/// How long the slow endpoint takes to answer, and how many deliveries it is given per
/// round (more than it can take: it stays at its limit throughout).
const SLOW_ANSWER: Duration = Duration::from_secs(2);
const SLOW_BACKLOG: usize = 40;
const PRODUCERS: usize = 50;
const LIMIT: Duration = Duration::from_secs(120);

pub async fn run(plan: Plan) -> Comparison {
    let per_round = plan.per_round(FULL_ROUND);
    let server = TestServer::start().await;
    let (healthy, slow) = (Receiver::start().await, Receiver::start().await);
    let mut hooks = server.webhook_client(ACCOUNT, MANAGE).await;
    let (to_healthy, _) = endpoint(&mut hooks, &healthy.url, &["id.producer"]).await;
    let (to_slow, _) = endpoint(&mut hooks, &slow.url, &["id.producer"]).await;
    let (to_healthy, to_slow) = (
        EndpointId::from_str(&to_healthy.id).unwrap(),
        EndpointId::from_str(&to_slow.id).unwrap(),
    );
    slow.answer_with(|_, _| Answer {
        delay: SLOW_ANSWER,
        ..Answer::status(200)
    });
    let mut config = server.config.clone();
    // As in webhook_delivery: deliveries appear without the intake's wake-up.
    config.webhooks.poll_interval_ms = 20;
    config.database.health_interval_ms = producer_profile::config::Config::default()
        .database
        .health_interval_ms;
    let dispatcher = TestDispatcher::start(config);
    let conn = Arc::new(Mutex::new(server.db.connect()));
    let producers: Vec<Uuid> = (0..PRODUCERS).map(|_| Uuid::now_v7()).collect();
    let sequences = Arc::new(Mutex::new(vec![0i64; PRODUCERS]));
    let round = |slow_present: bool, number: usize| {
        let (conn, healthy, slow) = (conn.clone(), healthy.clone(), slow.clone());
        let (producers, sequences) = (producers.clone(), sequences.clone());
        async move {
            set_paused(&conn, to_slow, !slow_present).await;
            if slow_present {
                let backlog = (0..SLOW_BACKLOG)
                    .map(|i| delivery(to_slow, producers[i % PRODUCERS], next(&sequences, i), "{}"))
                    .collect();
                record(&conn, backlog).await;
            } else {
                // Its attempts still out end first: the reference has it fully gone.
                until(Instant::now(), LIMIT, || async { slow.open() == 0 }).await;
            }
            let mut recorded_at = Vec::with_capacity(per_round);
            let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / PER_SECOND));
            for i in 0..per_round {
                ticks.tick().await;
                let body = format!(r#"{{"round":{number},"n":{i}}}"#);
                let one = delivery(
                    to_healthy,
                    producers[i % PRODUCERS],
                    next(&sequences, i),
                    &body,
                );
                record(&conn, vec![one]).await;
                recorded_at.push(Instant::now());
            }
            until(Instant::now(), LIMIT, || async {
                arrivals(&healthy, number).len() >= per_round
            })
            .await;
            let mut latencies: Vec<Duration> = arrivals(&healthy, number)
                .into_iter()
                .map(|(n, at)| at.saturating_duration_since(recorded_at[n]))
                .collect();
            latencies.sort();
            latencies[(latencies.len() * 99).div_ceil(100) - 1]
        }
    };
    let result = Comparison::latency(
        NAME,
        "webhooks",
        per_round,
        "the same load with the slow endpoint paused (p99 at the healthy endpoint)",
    )
    .measure(plan.rounds, |n| round(true, n), |n| round(false, n))
    .await;
    dispatcher.stop().await;
    result
}

/// The next sequence number of producer `i % PRODUCERS`.
fn next(sequences: &Mutex<Vec<i64>>, i: usize) -> i64 {
    let mut sequences = sequences.lock().unwrap();
    sequences[i % PRODUCERS] += 1;
    sequences[i % PRODUCERS]
}

fn delivery(endpoint_id: EndpointId, producer_id: Uuid, sequence: i64, body: &str) -> NewDelivery {
    NewDelivery {
        endpoint_id,
        event_id: Uuid::now_v7(),
        producer_id,
        sequence,
        webhook_type: "id.producer.updated".into(),
        body: body.to_owned(),
        traceparent: None,
        failed: false,
    }
}

async fn record(conn: &Arc<Mutex<PgConnection>>, deliveries: Vec<NewDelivery>) {
    let conn = conn.clone();
    tokio::task::spawn_blocking(move || {
        conn.lock()
            .unwrap()
            .transaction(|conn| webhook_deliveries::record(conn, ACCOUNT, &deliveries))
            .expect("recording deliveries");
    })
    .await
    .unwrap();
}

/// Pauses the endpoint for a day, or ends its pause.
async fn set_paused(conn: &Arc<Mutex<PgConnection>>, endpoint: EndpointId, paused: bool) {
    let conn = conn.clone();
    tokio::task::spawn_blocking(move || {
        let until = paused.then(|| chrono::Utc::now() + chrono::Duration::days(1));
        diesel::update(
            webhook_endpoints::table.filter(webhook_endpoints::id.eq(endpoint.as_uuid())),
        )
        .set(webhook_endpoints::paused_until.eq(until))
        .execute(&mut *conn.lock().unwrap())
        .expect("pausing the slow endpoint");
    })
    .await
    .unwrap();
}

/// The round's webhooks that reached the healthy endpoint: their number and arrival.
fn arrivals(healthy: &Receiver, round: usize) -> Vec<(usize, Instant)> {
    healthy
        .received()
        .into_iter()
        .filter_map(|r| {
            let body: serde_json::Value = serde_json::from_str(&r.body).ok()?;
            let n = body["n"].as_u64()? as usize;
            (body["round"].as_u64()? == round as u64).then_some((n, r.at))
        })
        .collect()
}
