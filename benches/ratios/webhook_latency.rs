//! Mutation → webhook, end to end: CreateProducer calls at a fixed rate (open loop: each
//! call starts on its tick, whatever the others do), through the outbox, the relay,
//! Kafka (tansu), the dispatcher's intake and delivery, to a receiver on loopback. Each
//! webhook's latency is its arrival less its call's start. No reference: the goal is
//! absolute (p99 < 50 ms at 300 mutations/s on this machine).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::Plan;
use crate::measure::until;
use crate::support::hooks::{MANAGE, deliveries_only, endpoint};
use crate::support::receiver::Receiver;
use crate::support::server::TestDispatcher;
use crate::support::{ALL_PRODUCER_SCOPES, TestServer, create, individual};

pub const NAME: &str = "webhook_latency";
const ACCOUNT: &str = "ACME";
/// Mutations per second, and how long each rate runs in a full round.
const RATES: [f64; 2] = [100.0, 300.0];
const FULL_SECONDS: f64 = 5.0;
const LIMIT: Duration = Duration::from_secs(120);

/// The latencies at one rate, over every round.
pub struct OpenLoop {
    rate: f64,
    latencies: Vec<Duration>,
    rounds_p99: Vec<Duration>,
}

pub async fn run(plan: Plan) -> Vec<OpenLoop> {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let mut hooks = server.webhook_client(ACCOUNT, MANAGE).await;
    endpoint(&mut hooks, &receiver.url, &["id.producer"]).await;
    let dispatcher = TestDispatcher::start(server.config.clone());
    let client = server.client_for(ACCOUNT, ALL_PRODUCER_SCOPES).await;
    let npns = Arc::new(AtomicU64::new(2_000_000));
    // One webhook through the whole path first: connections open, the intake assigned.
    warm_up(&client, &receiver, &npns).await;
    let mut results: Vec<OpenLoop> = RATES
        .iter()
        .map(|&rate| OpenLoop {
            rate,
            latencies: Vec::new(),
            rounds_p99: Vec::new(),
        })
        .collect();
    for _ in 0..plan.rounds {
        for result in &mut results {
            let count = plan.per_round((result.rate * FULL_SECONDS) as usize);
            let before = deliveries_only(receiver.received()).len();
            let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / result.rate));
            let mut calls = tokio::task::JoinSet::new();
            for _ in 0..count {
                ticks.tick().await;
                let (mut client, npns) = (client.clone(), npns.clone());
                let at = Instant::now();
                calls.spawn(async move {
                    let npn = npns.fetch_add(1, Ordering::Relaxed).to_string();
                    let created = client
                        .create_producer(create(individual(&npn)))
                        .await
                        .expect("CreateProducer");
                    (created.into_inner().id, at)
                });
            }
            // Each producer's id, and when its call started.
            let mut started = HashMap::with_capacity(count);
            while let Some(done) = calls.join_next().await {
                let (producer, at) = done.expect("a call task");
                started.insert(producer, at);
            }
            until(Instant::now(), LIMIT, || async {
                deliveries_only(receiver.received()).len() >= before + count
            })
            .await;
            let arrived = deliveries_only(receiver.received());
            let mut round: Vec<Duration> = arrived[before..]
                .iter()
                .map(|r| {
                    let producer = r.json()["data"]["producerId"]
                        .as_str()
                        .expect("a producer id")
                        .to_owned();
                    r.at.saturating_duration_since(started[&producer])
                })
                .collect();
            round.sort();
            result.rounds_p99.push(percentile(&round, 99));
            result.latencies.extend(round);
        }
    }
    dispatcher.stop().await;
    results
}

async fn warm_up(client: &crate::support::server::Client, receiver: &Receiver, npns: &AtomicU64) {
    let npn = npns.fetch_add(1, Ordering::Relaxed).to_string();
    client
        .clone()
        .create_producer(create(individual(&npn)))
        .await
        .expect("CreateProducer");
    until(Instant::now(), LIMIT, || async {
        !deliveries_only(receiver.received()).is_empty()
    })
    .await;
}

/// The `p`th percentile of sorted latencies.
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p).div_ceil(100).max(1) - 1]
}

impl fmt::Display for OpenLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut all = self.latencies.clone();
        all.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let rounds: Vec<String> = self
            .rounds_p99
            .iter()
            .map(|d| format!("{:.0}", ms(*d)))
            .collect();
        write!(
            f,
            "{NAME} at {:.0} mutations/s: {} webhooks, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms  [rounds' p99 ms: {}]",
            self.rate,
            all.len(),
            ms(percentile(&all, 50)),
            ms(percentile(&all, 99)),
            ms(*all.last().unwrap_or(&Duration::ZERO)),
            rounds.join(" ")
        )
    }
}
