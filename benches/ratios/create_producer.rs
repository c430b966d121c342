//! CreateProducer over gRPC — token check, validation, SSN encryption and blind index,
//! the idempotency record, the outbox row, with the relay publishing in the background —
//! against the same SQL transaction sent straight to Postgres (the rows our path wrote,
//! copied), through a pool of the same size with as many callers in flight.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool};
use diesel::sql_types::{Bytea, Date, Nullable, Text, Uuid as SqlUuid};
use uuid::Uuid;

use producer_profile::proto::v1 as pb;
use producer_profile::storage::outbox::EVENTS_CHANNEL;

use crate::Plan;
use crate::measure::{Comparison, drain, until};
use crate::relay::unpublished_is_zero;
use crate::support::database::TestDb;
use crate::support::server::Client;
use crate::support::{ALL_PRODUCER_SCOPES, TestServer, individual};

pub const NAME: &str = "create_producer";
const ACCOUNT: &str = "ACME";
const IN_FLIGHT: usize = 8;
/// Units of work in a full round.
const FULL_ROUND: usize = 300;
const WARM_UP: usize = 50;
/// The reference serialises its commits with an advisory lock, as the outbox does (its
/// own key: the reference has a database of its own).
const ORDERING_LOCK: i64 = 42;
const LIMIT: Duration = Duration::from_secs(120);

pub async fn run(plan: Plan) -> Comparison {
    let per_round = plan.per_round(FULL_ROUND);
    let server = TestServer::start_with(|config| {
        config.database.pool_max_size = IN_FLIGHT as u32;
    })
    .await;
    let client = server.client_for(ACCOUNT, ALL_PRODUCER_SCOPES).await;
    let npns = Arc::new(AtomicU64::new(1_000_000));
    over_grpc(&client, &npns, plan.per_round(WARM_UP)).await;
    let written = Arc::new(Written::load(&mut server.db.connect()));
    let outbox = Arc::new(Mutex::new(server.db.connect()));

    let reference_db = TestDb::migrated();
    let pool = Pool::builder()
        .max_size(IN_FLIGHT as u32)
        .build(ConnectionManager::<PgConnection>::new(&reference_db.url))
        .expect("a pool on the reference database");
    straight_to_postgres(&pool, &written, &npns, plan.per_round(WARM_UP)).await;

    Comparison::new(
        NAME,
        "creates",
        per_round,
        "the same SQL transaction through diesel",
    )
    .measure(
        plan.rounds,
        |_| async {
            let took = over_grpc(&client, &npns, per_round).await;
            // The relay publishes the round's events after it: off the clock, not later.
            until(Instant::now(), LIMIT, || unpublished_is_zero(&outbox)).await;
            took
        },
        |_| straight_to_postgres(&pool, &written, &npns, per_round),
    )
    .await
}

/// `count` CreateProducer calls (each with a request id, as careful clients send).
async fn over_grpc(client: &Client, npns: &Arc<AtomicU64>, count: usize) -> Duration {
    let work: Vec<String> = (0..count).map(|_| next_npn(npns)).collect();
    let client = client.clone();
    drain(IN_FLIGHT, work, move |npn| {
        let mut client = client.clone();
        async move {
            client
                .create_producer(pb::CreateProducerRequest {
                    producer: Some(individual(&npn)),
                    request_id: Uuid::now_v7().to_string(),
                })
                .await
                .expect("CreateProducer");
        }
    })
    .await
}

/// `count` transactions writing what one CreateProducer writes.
async fn straight_to_postgres(
    pool: &Pool<ConnectionManager<PgConnection>>,
    written: &Arc<Written>,
    npns: &Arc<AtomicU64>,
    count: usize,
) -> Duration {
    let work: Vec<String> = (0..count).map(|_| next_npn(npns)).collect();
    let (pool, written) = (pool.clone(), written.clone());
    drain(IN_FLIGHT, work, move |npn| {
        let (pool, written) = (pool.clone(), written.clone());
        async move {
            tokio::task::spawn_blocking(move || {
                let mut conn = pool.get().expect("a pooled connection");
                written
                    .insert(&mut conn, &npn)
                    .expect("the reference insert");
            })
            .await
            .unwrap();
        }
    })
    .await
}

fn next_npn(npns: &AtomicU64) -> String {
    npns.fetch_add(1, Ordering::Relaxed).to_string()
}

/// What our path wrote for one producer: the reference writes the same values again.
#[derive(QueryableByName)]
struct Written {
    #[diesel(sql_type = Text)]
    producer_type: String,
    #[diesel(sql_type = Nullable<Text>)]
    first_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    last_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    middle_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    gender: Option<String>,
    #[diesel(sql_type = Nullable<Date>)]
    date_of_birth: Option<chrono::NaiveDate>,
    #[diesel(sql_type = Nullable<Bytea>)]
    ssn_ciphertext: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Text>)]
    ssn_key_id: Option<String>,
    #[diesel(sql_type = Nullable<Bytea>)]
    ssn_blind_index: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Text>)]
    ssn_last4: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    primary_email: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    title: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    finra_crd_number: Option<String>,
    #[diesel(sql_type = Bytea)]
    fingerprint: Vec<u8>,
    #[diesel(sql_type = Bytea)]
    response_ciphertext: Vec<u8>,
    #[diesel(sql_type = Text)]
    response_key_id: String,
    #[diesel(sql_type = Text)]
    event_type: String,
    #[diesel(sql_type = Bytea)]
    payload: Vec<u8>,
}

impl Written {
    fn load(conn: &mut PgConnection) -> Self {
        diesel::sql_query(
            "SELECT p.producer_type, p.first_name, p.last_name, p.middle_name, p.gender, \
                    p.date_of_birth, p.ssn_ciphertext, p.ssn_key_id, p.ssn_blind_index, \
                    p.ssn_last4, p.primary_email, p.title, p.finra_crd_number, \
                    k.fingerprint, k.response_ciphertext, k.response_key_id, \
                    e.event_type, e.payload \
             FROM producers p \
             JOIN events e ON e.producer_id = p.id \
             CROSS JOIN (SELECT * FROM request_keys LIMIT 1) k \
             LIMIT 1",
        )
        .get_result(conn)
        .expect("a producer our path created")
    }

    /// The idempotency key's claim, the producer (returned, as our path reads it back),
    /// the ordering lock, the event and its notification, and the answer kept for a
    /// retry, in one transaction.
    fn insert(&self, conn: &mut PgConnection, npn: &str) -> QueryResult<()> {
        conn.transaction(|conn| {
            let id = Uuid::now_v7();
            let request_id = Uuid::now_v7().to_string();
            diesel::sql_query(
                "INSERT INTO request_keys (account_id, request_id, fingerprint) \
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind::<Text, _>(ACCOUNT)
            .bind::<Text, _>(&request_id)
            .bind::<Bytea, _>(&self.fingerprint)
            .execute(conn)?;
            diesel::sql_query(
                "INSERT INTO producers (account_id, id, npn, producer_type, first_name, \
                   last_name, middle_name, gender, date_of_birth, ssn_ciphertext, ssn_key_id, \
                   ssn_blind_index, ssn_last4, primary_email, title, finra_crd_number) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
                 RETURNING *",
            )
            .bind::<Text, _>(ACCOUNT)
            .bind::<SqlUuid, _>(id)
            .bind::<Text, _>(npn)
            .bind::<Text, _>(&self.producer_type)
            .bind::<Nullable<Text>, _>(&self.first_name)
            .bind::<Nullable<Text>, _>(&self.last_name)
            .bind::<Nullable<Text>, _>(&self.middle_name)
            .bind::<Nullable<Text>, _>(&self.gender)
            .bind::<Nullable<Date>, _>(self.date_of_birth)
            .bind::<Nullable<Bytea>, _>(&self.ssn_ciphertext)
            .bind::<Nullable<Text>, _>(&self.ssn_key_id)
            .bind::<Nullable<Bytea>, _>(&self.ssn_blind_index)
            .bind::<Nullable<Text>, _>(&self.ssn_last4)
            .bind::<Nullable<Text>, _>(&self.primary_email)
            .bind::<Nullable<Text>, _>(&self.title)
            .bind::<Nullable<Text>, _>(&self.finra_crd_number)
            .execute(conn)?;
            diesel::sql_query(format!("SELECT pg_advisory_xact_lock({ORDERING_LOCK})"))
                .execute(conn)?;
            diesel::sql_query(
                "INSERT INTO events (id, account_id, producer_id, sequence, event_type, \
                   resource_id, occurred_at, payload) \
                 VALUES ($1, $2, $3, 1, $4, $3, now(), $5)",
            )
            .bind::<SqlUuid, _>(Uuid::now_v7())
            .bind::<Text, _>(ACCOUNT)
            .bind::<SqlUuid, _>(id)
            .bind::<Text, _>(&self.event_type)
            .bind::<Bytea, _>(&self.payload)
            .execute(conn)?;
            diesel::sql_query(format!("NOTIFY {EVENTS_CHANNEL}")).execute(conn)?;
            diesel::sql_query(
                "UPDATE request_keys SET response_ciphertext = $3, response_key_id = $4 \
                 WHERE account_id = $1 AND request_id = $2",
            )
            .bind::<Text, _>(ACCOUNT)
            .bind::<Text, _>(&request_id)
            .bind::<Bytea, _>(&self.response_ciphertext)
            .bind::<Text, _>(&self.response_key_id)
            .execute(conn)?;
            Ok(())
        })
    }
}
