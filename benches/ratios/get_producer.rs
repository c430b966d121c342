//! GetProducer over gRPC — token check, the pooled read on the blocking pool, the row
//! into a domain value and a message — against the same SELECT through diesel, straight
//! to Postgres, through a pool of the same size with as many callers in flight.

use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool};
use uuid::Uuid;

use producer_profile::proto::v1 as pb;
use producer_profile::storage::schema::producers;

use crate::Plan;
use crate::measure::{Comparison, drain};
use crate::support::{ALL_PRODUCER_SCOPES, TestServer, create, individual};

pub const NAME: &str = "get_producer";
const ACCOUNT: &str = "ACME";
const IN_FLIGHT: usize = 8;
const FULL_ROUND: usize = 4000;

/// Every column of a producer row, as the reference reads it (ours leaves out the blind
/// index: one 32-byte column more for the reference).
type Row = (
    String,
    Uuid,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<chrono::NaiveDate>,
    Option<Vec<u8>>,
    Option<String>,
    Option<Vec<u8>>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    chrono::DateTime<chrono::Utc>,
    chrono::DateTime<chrono::Utc>,
);

pub async fn run(plan: Plan) -> Comparison {
    let per_round = plan.per_round(FULL_ROUND);
    let server = TestServer::start_with(|config| {
        config.database.pool_max_size = IN_FLIGHT as u32;
    })
    .await;
    let mut client = server.client_for(ACCOUNT, ALL_PRODUCER_SCOPES).await;
    let created = client
        .create_producer(create(individual("1234567")))
        .await
        .expect("CreateProducer")
        .into_inner();
    let id = Uuid::parse_str(&created.id).expect("a producer id");
    let pool = Pool::builder()
        .max_size(IN_FLIGHT as u32)
        .build(ConnectionManager::<PgConnection>::new(&server.db.url))
        .expect("a pool on the same database");
    let over_grpc = |count: usize| {
        let client = client.clone();
        let request = pb::GetProducerRequest {
            id: created.id.clone(),
            view: 0,
        };
        drain(IN_FLIGHT, vec![(); count], move |()| {
            let (mut client, request) = (client.clone(), request.clone());
            async move {
                client.get_producer(request).await.expect("GetProducer");
            }
        })
    };
    let straight_to_postgres = |count: usize| {
        let pool = pool.clone();
        drain(IN_FLIGHT, vec![(); count], move |()| {
            let pool = pool.clone();
            async move {
                tokio::task::spawn_blocking(move || {
                    let mut conn = pool.get().expect("a pooled connection");
                    producers::table
                        .find((ACCOUNT, id))
                        .select(producers::all_columns)
                        .first::<Row>(&mut conn)
                        .expect("the reference read");
                })
                .await
                .unwrap();
            }
        })
    };
    // Connections opened and statements prepared on both sides before the clock runs.
    let warm_up = plan.per_round(FULL_ROUND / 10);
    over_grpc(warm_up).await;
    straight_to_postgres(warm_up).await;
    Comparison::new(
        NAME,
        "reads",
        per_round,
        "the same SELECT through diesel, straight to Postgres",
    )
    .measure(
        plan.rounds,
        |_| over_grpc(per_round),
        |_| straight_to_postgres(per_round),
    )
    .await
}
