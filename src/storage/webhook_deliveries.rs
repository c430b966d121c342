//! The `webhook_deliveries` and `webhook_attempts` tables: one delivery per (event,
//! endpoint), recorded before the Kafka offset moves on; due deliveries claimed by
//! dispatchers with `SKIP LOCKED` and a lease; every attempt logged.

use chrono::{DateTime, Utc};
use diesel::dsl::now;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Uuid as SqlUuid};
use uuid::Uuid;

use super::schema::{webhook_attempts, webhook_deliveries, webhook_endpoints};
use crate::domain::producer::{Page, PageRequest};
use crate::domain::webhook::{Attempt, Delivery, DeliveryStatus};
use crate::domain::{AccountId, DeliveryId, EndpointId, Error};

/// A delivery to record.
pub struct NewDelivery {
    pub endpoint_id: EndpointId,
    pub event_id: Uuid,
    pub producer_id: Uuid,
    pub sequence: i64,
    pub webhook_type: String,
    pub body: String,
    pub traceparent: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries, check_for_backend(diesel::pg::Pg))]
struct DeliveryRow {
    id: Uuid,
    endpoint_id: Uuid,
    event_id: Uuid,
    producer_id: Uuid,
    sequence: i64,
    webhook_type: String,
    status: String,
    attempts: i32,
    next_attempt_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl DeliveryRow {
    fn into_domain(self) -> Result<Delivery, Error> {
        Ok(Delivery {
            id: DeliveryId::from_uuid(self.id),
            endpoint_id: EndpointId::from_uuid(self.endpoint_id),
            event_id: self.event_id,
            producer_id: self.producer_id,
            sequence: self.sequence,
            webhook_type: self.webhook_type,
            status: DeliveryStatus::parse(&self.status).ok_or_else(|| {
                Error::Internal(format!("delivery {} has status {}", self.id, self.status))
            })?,
            attempts: self.attempts,
            next_attempt_at: self.next_attempt_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// Records deliveries; those already recorded (a re-read event) are left alone.
pub fn record(
    conn: &mut PgConnection,
    account: &str,
    deliveries: &[NewDelivery],
) -> Result<usize, Error> {
    let mut recorded = 0;
    for delivery in deliveries {
        recorded += diesel::insert_into(webhook_deliveries::table)
            .values((
                webhook_deliveries::id.eq(Uuid::now_v7()),
                webhook_deliveries::account_id.eq(account),
                webhook_deliveries::endpoint_id.eq(delivery.endpoint_id.as_uuid()),
                webhook_deliveries::event_id.eq(delivery.event_id),
                webhook_deliveries::producer_id.eq(delivery.producer_id),
                webhook_deliveries::sequence.eq(delivery.sequence),
                webhook_deliveries::webhook_type.eq(&delivery.webhook_type),
                webhook_deliveries::body.eq(&delivery.body),
                webhook_deliveries::traceparent.eq(delivery.traceparent.as_deref()),
            ))
            .on_conflict_do_nothing()
            .execute(conn)?;
    }
    Ok(recorded)
}

/// A claimed delivery with what an attempt needs.
#[derive(Debug, Clone, QueryableByName)]
pub struct DueDelivery {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub endpoint_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub event_id: Uuid,
    #[diesel(sql_type = Text)]
    pub url: String,
    #[diesel(sql_type = Text)]
    pub body: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub traceparent: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub attempts: i32,
    #[diesel(sql_type = Nullable<diesel::sql_types::Integer>)]
    pub rate_limit_per_second: Option<i32>,
}

/// Claims up to `limit` due deliveries for `lease` and returns them. A delivery is due
/// when its time has come, no dispatcher holds it, its endpoint is enabled and not one
/// of `busy` (at its in-flight limit here), and no earlier event of the same producer is
/// still pending for the same endpoint: per-producer order, while other producers go on.
pub fn claim_due(
    conn: &mut PgConnection,
    limit: i64,
    busy: &[Uuid],
    lease: std::time::Duration,
) -> Result<Vec<DueDelivery>, Error> {
    let lease_secs = lease.as_secs_f64();
    Ok(diesel::sql_query(
        "WITH due AS ( \
           SELECT d.id FROM webhook_deliveries d \
           JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.enabled \
           WHERE d.status = 'pending' AND d.next_attempt_at <= now() \
             AND (d.leased_until IS NULL OR d.leased_until < now()) \
             AND NOT (d.endpoint_id = ANY($2)) \
             AND NOT EXISTS ( \
               SELECT 1 FROM webhook_deliveries earlier \
               WHERE earlier.endpoint_id = d.endpoint_id AND earlier.producer_id = d.producer_id \
                 AND earlier.status = 'pending' AND earlier.sequence < d.sequence) \
           ORDER BY d.next_attempt_at \
           LIMIT $1 \
           FOR UPDATE OF d SKIP LOCKED) \
         UPDATE webhook_deliveries d SET leased_until = now() + make_interval(secs => $3) \
         FROM due, webhook_endpoints e \
         WHERE d.id = due.id AND e.id = d.endpoint_id \
         RETURNING d.id, d.endpoint_id, d.event_id, e.url, d.body, d.traceparent, d.attempts, \
                   e.rate_limit_per_second",
    )
    .bind::<BigInt, _>(limit)
    .bind::<diesel::sql_types::Array<SqlUuid>, _>(busy)
    .bind::<diesel::sql_types::Double, _>(lease_secs)
    .load(conn)?)
}

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Succeeded,
    RetryAt(DateTime<Utc>),
    Failed,
}

/// Logs an attempt and moves the delivery on, releasing its lease.
pub fn finish_attempt(
    conn: &mut PgConnection,
    attempt: &Attempt,
    endpoint_id: EndpointId,
    next: Next,
) -> Result<(), Error> {
    conn.transaction(|conn| {
        diesel::insert_into(webhook_attempts::table)
            .values((
                webhook_attempts::id.eq(attempt.id),
                webhook_attempts::delivery_id.eq(attempt.delivery_id.as_uuid()),
                webhook_attempts::endpoint_id.eq(endpoint_id.as_uuid()),
                webhook_attempts::attempted_at.eq(attempt.attempted_at),
                webhook_attempts::status_code.eq(attempt.status_code.map(i32::from)),
                webhook_attempts::latency_ms.eq(attempt.latency_ms),
                webhook_attempts::error.eq(attempt.error.as_deref()),
                webhook_attempts::response_body.eq(&attempt.response_body),
            ))
            .execute(conn)?;
        let (status, next_at) = match next {
            Next::Succeeded => ("succeeded", None),
            Next::RetryAt(at) => ("pending", Some(at)),
            Next::Failed => ("failed", None),
        };
        let target = webhook_deliveries::table.find(attempt.delivery_id.as_uuid());
        diesel::update(target)
            .set((
                webhook_deliveries::status.eq(status),
                webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
                webhook_deliveries::leased_until.eq(None::<DateTime<Utc>>),
                webhook_deliveries::updated_at.eq(now),
            ))
            .execute(conn)?;
        if let Some(at) = next_at {
            diesel::update(target)
                .set(webhook_deliveries::next_attempt_at.eq(at))
                .execute(conn)?;
        }
        Ok(())
    })
}

/// Releases a lease without an attempt (the dispatcher is stopping).
pub fn release(conn: &mut PgConnection, id: DeliveryId) -> Result<(), Error> {
    diesel::update(webhook_deliveries::table.find(id.as_uuid()))
        .set(webhook_deliveries::leased_until.eq(None::<DateTime<Utc>>))
        .execute(conn)?;
    Ok(())
}

/// Makes the endpoint's waiting retries due now: it just answered 2xx after failing, so
/// its backlog need not sit out the rest of a schedule that may reach hours. Attempts
/// in flight keep their leases.
pub fn retry_now(conn: &mut PgConnection, endpoint: EndpointId) -> Result<usize, Error> {
    Ok(diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::endpoint_id.eq(endpoint.as_uuid()))
            .filter(webhook_deliveries::status.eq("pending"))
            .filter(webhook_deliveries::next_attempt_at.gt(now))
            .filter(
                webhook_deliveries::leased_until
                    .is_null()
                    .or(webhook_deliveries::leased_until.lt(now)),
            ),
    )
    .set(webhook_deliveries::next_attempt_at.eq(now))
    .execute(conn)?)
}

/// A page of an endpoint's deliveries, newest first, optionally of one status.
pub fn list(
    conn: &mut PgConnection,
    account: &AccountId,
    endpoint: EndpointId,
    status: Option<DeliveryStatus>,
    page: PageRequest<DeliveryId>,
) -> Result<Page<Delivery>, Error> {
    let mut query = webhook_deliveries::table
        .filter(webhook_deliveries::account_id.eq(account.as_str()))
        .filter(webhook_deliveries::endpoint_id.eq(endpoint.as_uuid()))
        .select(DeliveryRow::as_select())
        .order(webhook_deliveries::id.desc())
        .limit(page.size.get() as i64 + 1)
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(webhook_deliveries::status.eq(status.as_str()));
    }
    if let Some(before) = page.after {
        query = query.filter(webhook_deliveries::id.lt(before.as_uuid()));
    }
    super::page_of(query.load(conn)?, page.size, DeliveryRow::into_domain)
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = webhook_attempts, check_for_backend(diesel::pg::Pg))]
struct AttemptRow {
    id: Uuid,
    delivery_id: Uuid,
    attempted_at: DateTime<Utc>,
    status_code: Option<i32>,
    latency_ms: i64,
    error: Option<String>,
    response_body: String,
}

/// A page of an endpoint's attempts (or one delivery's), newest first.
pub fn attempts(
    conn: &mut PgConnection,
    account: &AccountId,
    endpoint: EndpointId,
    delivery: Option<DeliveryId>,
    page: PageRequest<uuid::Uuid>,
) -> Result<Page<Attempt>, Error> {
    // The endpoint must be the caller's: attempts carry no account of their own.
    webhook_endpoints::table
        .find((account.as_str(), endpoint.as_uuid()))
        .select(webhook_endpoints::id)
        .first::<Uuid>(conn)
        .optional()?
        .ok_or(Error::NotFound("endpoint"))?;
    let mut query = webhook_attempts::table
        .filter(webhook_attempts::endpoint_id.eq(endpoint.as_uuid()))
        .select(AttemptRow::as_select())
        .order(webhook_attempts::id.desc())
        .limit(page.size.get() as i64 + 1)
        .into_boxed();
    if let Some(delivery) = delivery {
        query = query.filter(webhook_attempts::delivery_id.eq(delivery.as_uuid()));
    }
    if let Some(before) = page.after {
        query = query.filter(webhook_attempts::id.lt(before));
    }
    super::page_of(query.load(conn)?, page.size, |row: AttemptRow| {
        Ok(Attempt {
            id: row.id,
            delivery_id: DeliveryId::from_uuid(row.delivery_id),
            attempted_at: row.attempted_at,
            status_code: row.status_code.and_then(|c| u16::try_from(c).ok()),
            latency_ms: row.latency_ms,
            error: row.error,
            response_body: row.response_body,
        })
    })
}

/// Queues one event's delivery to the endpoint again, now, with a fresh retry schedule.
pub fn redeliver(
    conn: &mut PgConnection,
    account: &AccountId,
    endpoint: EndpointId,
    event_id: Uuid,
) -> Result<Delivery, Error> {
    diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::account_id.eq(account.as_str()))
            .filter(webhook_deliveries::endpoint_id.eq(endpoint.as_uuid()))
            .filter(webhook_deliveries::event_id.eq(event_id)),
    )
    .set(requeue())
    .returning(DeliveryRow::as_returning())
    .get_result(conn)
    .optional()?
    .ok_or(Error::NotFound("delivery"))?
    .into_domain()
}

/// The endpoint's delivery of one event.
pub fn find_by_event(
    conn: &mut PgConnection,
    account: &AccountId,
    endpoint: EndpointId,
    event_id: Uuid,
) -> Result<Delivery, Error> {
    webhook_deliveries::table
        .filter(webhook_deliveries::account_id.eq(account.as_str()))
        .filter(webhook_deliveries::endpoint_id.eq(endpoint.as_uuid()))
        .filter(webhook_deliveries::event_id.eq(event_id))
        .select(DeliveryRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(Error::NotFound("delivery"))?
        .into_domain()
}

/// Queues again every delivery of the endpoint that failed at or after `since`.
pub fn recover(
    conn: &mut PgConnection,
    account: &AccountId,
    endpoint: EndpointId,
    since: DateTime<Utc>,
) -> Result<usize, Error> {
    Ok(diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::account_id.eq(account.as_str()))
            .filter(webhook_deliveries::endpoint_id.eq(endpoint.as_uuid()))
            .filter(webhook_deliveries::status.eq("failed"))
            .filter(webhook_deliveries::updated_at.ge(since)),
    )
    .set(requeue())
    .execute(conn)?)
}

type Requeue = (
    diesel::dsl::Eq<webhook_deliveries::status, &'static str>,
    diesel::dsl::Eq<webhook_deliveries::attempts, i32>,
    diesel::dsl::Eq<webhook_deliveries::next_attempt_at, now>,
    diesel::dsl::Eq<webhook_deliveries::leased_until, Option<DateTime<Utc>>>,
    diesel::dsl::Eq<webhook_deliveries::updated_at, now>,
);

fn requeue() -> Requeue {
    (
        webhook_deliveries::status.eq("pending"),
        webhook_deliveries::attempts.eq(0),
        webhook_deliveries::next_attempt_at.eq(now),
        webhook_deliveries::leased_until.eq(None::<DateTime<Utc>>),
        webhook_deliveries::updated_at.eq(now),
    )
}
