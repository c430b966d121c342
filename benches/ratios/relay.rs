//! The outbox relay — committed events claimed from Postgres, published by the
//! idempotent producer, marked published once the broker acknowledged them — against a
//! plain rdkafka producer with the same settings sending the same records (key, headers,
//! payload) to the same topic and waiting for every acknowledgement.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{Integer, Uuid as SqlUuid};
use uuid::Uuid;

use producer_profile::events::kafka;
use producer_profile::storage::outbox::{EVENTS_CHANNEL, StoredEvent};
use producer_profile::storage::schema::events;

use crate::Plan;
use crate::measure::{Comparison, until};
use crate::support::{ALL_PRODUCER_SCOPES, TestServer, create, individual};

pub const NAME: &str = "event_relay";
/// Units of work in a full round.
const FULL_ROUND: usize = 2000;
const LIMIT: Duration = Duration::from_secs(120);

pub async fn run(plan: Plan) -> Comparison {
    let per_round = plan.per_round(FULL_ROUND);
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    client
        .create_producer(create(individual("1")))
        .await
        .expect("CreateProducer");
    let conn = Arc::new(Mutex::new(server.db.connect()));
    until(Instant::now(), LIMIT, || unpublished_is_zero(&conn)).await;
    let template: StoredEvent = events::table
        .select(StoredEvent::as_select())
        .first(&mut *conn.lock().unwrap())
        .expect("the event our path wrote");

    let kafka_config = server.config.kafka.clone();
    let source = server.config.events.source.clone();
    let producer = kafka::producer(&kafka_config).expect("a producer");
    // The relay's producer is connected and has its producer id by now; so is this one.
    kafka::send(&producer, &kafka_config.topic, &template, &source)
        .expect("queued")
        .await
        .expect("delivered")
        .expect("acknowledged");
    Comparison::new(
        NAME,
        "events",
        per_round,
        "rdkafka sending the same records, all in flight at once",
    )
    .measure(
        plan.rounds,
        |_| {
            let conn = conn.clone();
            let template_id = template.id;
            async move {
                let inserted = conn.clone();
                tokio::task::spawn_blocking(move || {
                    copies(&mut inserted.lock().unwrap(), template_id, per_round)
                })
                .await
                .unwrap();
                until(Instant::now(), LIMIT, || unpublished_is_zero(&conn)).await
            }
        },
        |_| {
            let started = Instant::now();
            let acks: Vec<_> = (0..per_round)
                .map(|_| {
                    let event = StoredEvent {
                        id: Uuid::now_v7(),
                        producer_id: Uuid::now_v7(),
                        ..template.clone()
                    };
                    kafka::send(&producer, &kafka_config.topic, &event, &source).expect("queued")
                })
                .collect();
            async move {
                for ack in acks {
                    ack.await.expect("delivered").expect("acknowledged");
                }
                started.elapsed()
            }
        },
    )
    .await
}

/// Commits `count` copies of the template event, for new producers, at once — and
/// wakes the relay as a committed write does.
fn copies(conn: &mut PgConnection, template: Uuid, count: usize) {
    conn.transaction(|conn| {
        diesel::sql_query(
            "INSERT INTO events (id, account_id, producer_id, sequence, event_type, \
               resource_id, occurred_at, payload) \
             SELECT gen_random_uuid(), account_id, gen_random_uuid(), 1, event_type, \
               resource_id, now(), payload \
             FROM events, generate_series(1, $2) WHERE id = $1",
        )
        .bind::<SqlUuid, _>(template)
        .bind::<Integer, _>(count as i32)
        .execute(conn)?;
        diesel::sql_query(format!("NOTIFY {EVENTS_CHANNEL}")).execute(conn)
    })
    .expect("copying the event");
}

/// Whether the relay has published everything committed.
pub async fn unpublished_is_zero(conn: &Arc<Mutex<PgConnection>>) -> bool {
    let conn = conn.clone();
    tokio::task::spawn_blocking(move || {
        events::table
            .filter(events::published_at.is_null())
            .count()
            .get_result::<i64>(&mut *conn.lock().unwrap())
            .expect("counting unpublished events")
            == 0
    })
    .await
    .unwrap()
}
