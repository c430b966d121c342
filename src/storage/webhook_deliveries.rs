//! The `webhook_deliveries` and `webhook_attempts` tables: one delivery per (event,
//! endpoint), recorded before the Kafka offset moves on; due deliveries claimed by
//! dispatchers with `SKIP LOCKED` and a lease; every attempt logged.

use chrono::{DateTime, Utc};
use diesel::dsl::now;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Uuid as SqlUuid};
use uuid::Uuid;

use super::codes;
use super::intake_offsets::Position;
use super::schema::{webhook_attempts, webhook_deliveries, webhook_endpoints};
use super::webhook_endpoints::{SealedSecrets, find_enabled};
use crate::domain::page::{Page, PageRequest};
use crate::domain::webhook::{Attempt, Delivery, DeliveryStatus, WebhookType};
use crate::domain::{AccountId, DeliveryId, EndpointId, Error};

/// The stored codes the queries here filter on.
const PENDING: &str = codes::delivery_status(DeliveryStatus::Pending);
const FAILED: &str = codes::delivery_status(DeliveryStatus::Failed);

/// A delivery to record.
pub struct NewDelivery {
    /// The endpoint it goes to.
    pub endpoint_id: EndpointId,
    /// The event it delivers; one delivery per (event, endpoint), a second is left out.
    pub event_id: Uuid,
    /// The event's producer: deliveries of one producer go in `sequence` order.
    pub producer_id: Uuid,
    /// The producer's version after the event.
    pub sequence: i64,
    /// The webhook type's name, as sent.
    pub webhook_type: String,
    /// The webhook body as sent, the same on every attempt.
    pub body: String,
    /// The W3C trace context of the event's write, sent along.
    pub traceparent: Option<String>,
    /// Recorded as failed at once: the endpoint is disabled. RecoverEndpoint replays it
    /// once the endpoint is enabled again.
    pub failed: bool,
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
            status: codes::parse_delivery_status(&self.status).ok_or_else(|| {
                Error::Internal(format!("delivery {} has status {}", self.id, self.status))
            })?,
            attempts: self.attempts,
            next_attempt_at: self.next_attempt_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// One event read from the topic, as the deliveries it becomes.
pub struct EventToDeliver {
    /// The account it happened in.
    pub account: String,
    /// Its webhook type: which subscriptions it reaches.
    pub webhook_type: WebhookType,
    /// When it happened: endpoints subscribed at that moment get it.
    pub occurred_at: DateTime<Utc>,
    /// The webhook body.
    pub body: String,
    /// The event.
    pub event_id: Uuid,
    /// Its producer (deliveries are ordered per producer).
    pub producer_id: Uuid,
    /// Its place in the producer's history.
    pub sequence: i64,
    /// The W3C trace context it was written under.
    pub traceparent: Option<String>,
}

/// One record read from the topic, for [`record_intake`].
pub struct IntakeRecord {
    /// The partition it was read from.
    pub partition: i32,
    /// The partition's position after it.
    pub position: Position,
    /// The event it holds; `None` for one that can never be delivered (undecodable, an
    /// unknown type).
    pub event: Option<EventToDeliver>,
}

/// Records the deliveries of events read together — for each, one per endpoint
/// subscribed when it happened, failed at once for a disabled one (so RecoverEndpoint
/// can replay it) — and each partition's new intake position, in one transaction; how
/// many deliveries were new. An event that can never be delivered only moves the
/// position.
pub fn record_intake(
    conn: &mut PgConnection,
    topic: &str,
    records: &[IntakeRecord],
) -> Result<usize, Error> {
    conn.transaction(|conn| {
        let mut recorded = 0;
        let mut last_position = std::collections::BTreeMap::new();
        for record in records {
            if let Some(event) = &record.event {
                recorded += record_event(conn, event)?;
            }
            last_position.insert(record.partition, record.position);
        }
        for (partition, position) in last_position {
            super::intake_offsets::store(conn, topic, partition, position)?;
        }
        Ok(recorded)
    })
}

/// One event's deliveries, one per endpoint subscribed when it happened.
fn record_event(conn: &mut PgConnection, event: &EventToDeliver) -> Result<usize, Error> {
    let endpoints = super::webhook_endpoints::subscribed(
        conn,
        &event.account,
        event.webhook_type,
        event.occurred_at,
    )?;
    let deliveries: Vec<NewDelivery> = endpoints
        .into_iter()
        .map(|endpoint| NewDelivery {
            endpoint_id: endpoint.id,
            failed: !endpoint.enabled,
            event_id: event.event_id,
            producer_id: event.producer_id,
            sequence: event.sequence,
            webhook_type: event.webhook_type.to_string(),
            body: event.body.clone(),
            traceparent: event.traceparent.clone(),
        })
        .collect();
    record(conn, &event.account, &deliveries)
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
                webhook_deliveries::status.eq(if delivery.failed { FAILED } else { PENDING }),
            ))
            .on_conflict_do_nothing()
            .execute(conn)?;
    }
    Ok(recorded)
}

/// A claimed delivery with what an attempt needs.
#[derive(Debug, Clone, QueryableByName)]
pub struct DueDelivery {
    /// The delivery, which the attempt is recorded against.
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    /// The endpoint it goes to: its in-flight count and rate limit.
    #[diesel(sql_type = SqlUuid)]
    pub endpoint_id: Uuid,
    /// The event, whose id is the `webhook-id` of every attempt.
    #[diesel(sql_type = SqlUuid)]
    pub event_id: Uuid,
    /// The endpoint's URL as of the claim.
    #[diesel(sql_type = Text)]
    pub url: String,
    /// The webhook body to sign and send.
    #[diesel(sql_type = Text)]
    pub body: String,
    /// Sent as the `traceparent` header.
    #[diesel(sql_type = Nullable<Text>)]
    pub traceparent: Option<String>,
    /// Attempts made before this one: where the retry schedule stands.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub attempts: i32,
    /// The endpoint's limit, if any: attempts there are spaced by it.
    #[diesel(sql_type = Nullable<diesel::sql_types::Integer>)]
    pub rate_limit_per_second: Option<i32>,
    /// Proves the claim when the outcome is recorded.
    #[diesel(sql_type = SqlUuid)]
    pub lease_token: Uuid,
    /// The endpoint's signing secrets, as of the claim.
    #[diesel(embed)]
    pub secrets: SealedSecrets,
}

/// Attempts this dispatcher has in flight to one endpoint.
pub struct InFlight {
    /// The endpoint.
    pub endpoint_id: Uuid,
    /// How many attempts to it are running.
    pub count: i32,
}

/// Claims up to `limit` due deliveries for `lease` and returns them. A delivery is due
/// when its time has come, no dispatcher holds it, its endpoint is enabled and not
/// paused, and no earlier event of the same producer is still pending for the same
/// endpoint: per-producer order, while other producers go on. (A failed delivery no
/// longer holds later ones back: one event that never gets through must not stall its
/// producer forever.) Each endpoint gives at most `per_endpoint` minus what `in_flight`
/// says this dispatcher already has there, so a slow endpoint's backlog never fills a
/// claim meant for the others. The endpoint's sealed secrets come along: an attempt needs
/// no query of its own to sign.
///
/// Planned afresh on every call (`sql_query`): as a prepared statement its cached plan
/// got slower round after round as delivered rows piled up (`make bench`).
pub fn claim_due(
    conn: &mut PgConnection,
    limit: i64,
    in_flight: &[InFlight],
    per_endpoint: i32,
    lease: std::time::Duration,
) -> Result<Vec<DueDelivery>, Error> {
    let busy_ids: Vec<Uuid> = in_flight.iter().map(|e| e.endpoint_id).collect();
    let busy_counts: Vec<i32> = in_flight.iter().map(|e| e.count).collect();
    Ok(diesel::sql_query(format!(
        "WITH due AS ( \
           SELECT d.id, d.next_attempt_at \
           FROM webhook_endpoints e \
           LEFT JOIN unnest($2::uuid[], $3::int[]) AS here(endpoint_id, in_flight) \
             ON here.endpoint_id = e.id \
           CROSS JOIN LATERAL ( \
             SELECT d.id, d.next_attempt_at FROM webhook_deliveries d \
             WHERE d.endpoint_id = e.id AND d.status = '{PENDING}' AND d.next_attempt_at <= now() \
               AND (d.leased_until IS NULL OR d.leased_until < now()) \
               AND NOT EXISTS ( \
                 SELECT 1 FROM webhook_deliveries earlier \
                 WHERE earlier.endpoint_id = d.endpoint_id \
                   AND earlier.producer_id = d.producer_id \
                   AND earlier.status = '{PENDING}' AND earlier.sequence < d.sequence) \
             ORDER BY d.next_attempt_at \
             LIMIT GREATEST($4 - COALESCE(here.in_flight, 0), 0) \
             FOR UPDATE OF d SKIP LOCKED) d \
           WHERE e.enabled AND (e.paused_until IS NULL OR e.paused_until <= now()) \
           ORDER BY d.next_attempt_at \
           LIMIT $1) \
         UPDATE webhook_deliveries d \
         SET leased_until = now() + make_interval(secs => $5), lease_token = gen_random_uuid() \
         FROM due, webhook_endpoints e \
         WHERE d.id = due.id AND e.id = d.endpoint_id \
         RETURNING d.id, d.endpoint_id, d.event_id, e.url, d.body, d.traceparent, d.attempts, \
                   e.rate_limit_per_second, d.lease_token, e.account_id, e.secret_ciphertext, \
                   e.secret_key_id, e.previous_secret_ciphertext, e.previous_secret_key_id, \
                   e.previous_secret_expires_at",
    ))
    .bind::<BigInt, _>(limit)
    .bind::<diesel::sql_types::Array<SqlUuid>, _>(busy_ids)
    .bind::<diesel::sql_types::Array<diesel::sql_types::Integer>, _>(busy_counts)
    .bind::<diesel::sql_types::Integer, _>(per_endpoint)
    .bind::<diesel::sql_types::Double, _>(lease.as_secs_f64())
    .load(conn)?)
}

/// An attempt to record, for [`finish_attempts`].
#[derive(Debug, Clone)]
pub struct FinishedAttempt {
    /// What was sent and answered.
    pub attempt: Attempt,
    /// The delivery's endpoint.
    pub endpoint_id: EndpointId,
    /// The claim the attempt was made under.
    pub lease_token: Uuid,
    /// The delivery's next status, and for a pending one when it is due again.
    pub next: (DeliveryStatus, Option<DateTime<Utc>>),
}

/// Records several attempts in one transaction, in a few statements whatever their
/// number: logs each attempt and, while its `lease_token` still holds the delivery, moves
/// the delivery to its next state and releases it (a lapsed claim, or a delivery
/// redelivered, disabled or taken over meanwhile, keeps its state). Then runs `then` with
/// which of them were recorded (a delivery whose endpoint was deleted is gone, and
/// nothing is recorded for it): the effects on their endpoints, in the same transaction.
/// Any error rolls every one of them back.
pub fn finish_attempts<T>(
    conn: &mut PgConnection,
    finished: &[FinishedAttempt],
    then: impl FnOnce(&mut PgConnection, &[bool]) -> Result<T, Error>,
) -> Result<T, Error> {
    conn.transaction(|conn| {
        let mut ids: Vec<Uuid> = finished
            .iter()
            .map(|f| f.attempt.delivery_id.as_uuid())
            .collect();
        // In one order, so two of these transactions never wait on each other's rows.
        ids.sort_unstable();
        let existing: std::collections::HashSet<Uuid> = webhook_deliveries::table
            .filter(webhook_deliveries::id.eq_any(&ids))
            .order(webhook_deliveries::id)
            .select(webhook_deliveries::id)
            .for_update()
            .load::<Uuid>(conn)?
            .into_iter()
            .collect();
        let recorded: Vec<bool> = finished
            .iter()
            .map(|f| existing.contains(&f.attempt.delivery_id.as_uuid()))
            .collect();
        let kept: Vec<&FinishedAttempt> = finished
            .iter()
            .zip(&recorded)
            .filter_map(|(f, kept)| kept.then_some(f))
            .collect();
        if !kept.is_empty() {
            log_attempts(conn, &kept)?;
            move_on(conn, &kept)?;
        }
        then(conn, &recorded)
    })
}

/// The attempts' rows, in one statement.
fn log_attempts(conn: &mut PgConnection, kept: &[&FinishedAttempt]) -> Result<(), Error> {
    let rows: Vec<_> = kept
        .iter()
        .map(|f| {
            let attempt = &f.attempt;
            (
                webhook_attempts::id.eq(attempt.id),
                webhook_attempts::delivery_id.eq(attempt.delivery_id.as_uuid()),
                webhook_attempts::endpoint_id.eq(f.endpoint_id.as_uuid()),
                webhook_attempts::attempted_at.eq(attempt.attempted_at),
                webhook_attempts::status_code.eq(attempt.status_code.map(i32::from)),
                webhook_attempts::latency_ms.eq(attempt.latency_ms),
                webhook_attempts::error.eq(attempt.error.as_deref().map(storable_text)),
                webhook_attempts::response_body.eq(storable_text(&attempt.response_body)),
            )
        })
        .collect();
    diesel::insert_into(webhook_attempts::table)
        .values(rows)
        .execute(conn)?;
    Ok(())
}

/// Each delivery still held by its attempt's claim to its next state, released, in one
/// statement.
fn move_on(conn: &mut PgConnection, kept: &[&FinishedAttempt]) -> Result<(), Error> {
    use diesel::sql_types::{Array, Timestamptz};
    let ids: Vec<Uuid> = kept
        .iter()
        .map(|f| f.attempt.delivery_id.as_uuid())
        .collect();
    let leases: Vec<Uuid> = kept.iter().map(|f| f.lease_token).collect();
    let statuses: Vec<&str> = kept
        .iter()
        .map(|f| codes::delivery_status(f.next.0))
        .collect();
    let due_again: Vec<Option<DateTime<Utc>>> = kept.iter().map(|f| f.next.1).collect();
    diesel::sql_query(format!(
        "UPDATE webhook_deliveries d \
         SET status = next.status, attempts = d.attempts + 1, \
             next_attempt_at = COALESCE(next.due_again, d.next_attempt_at), \
             leased_until = NULL, lease_token = NULL, updated_at = now() \
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[]) \
           AS next(id, lease_token, status, due_again) \
         WHERE d.id = next.id AND d.lease_token = next.lease_token AND d.status = '{PENDING}'"
    ))
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Array<SqlUuid>, _>(leases)
    .bind::<Array<Text>, _>(statuses)
    .bind::<Array<Nullable<Timestamptz>>, _>(due_again)
    .execute(conn)?;
    Ok(())
}

/// Postgres `text` cannot hold NUL: a receiver answering with one must not make the
/// attempt unrecordable (and the delivery retried forever).
fn storable_text(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}").into()
    } else {
        text.into()
    }
}

/// Releases a claim without an attempt (the endpoint's secrets could not be read).
pub fn release(conn: &mut PgConnection, id: DeliveryId, lease_token: Uuid) -> Result<(), Error> {
    diesel::update(
        webhook_deliveries::table
            .find(id.as_uuid())
            .filter(webhook_deliveries::lease_token.eq(lease_token)),
    )
    .set((
        webhook_deliveries::leased_until.eq(None::<DateTime<Utc>>),
        webhook_deliveries::lease_token.eq(None::<Uuid>),
    ))
    .execute(conn)?;
    Ok(())
}

/// Makes the endpoint's waiting retries due now: it just answered 2xx after failing, so
/// its backlog need not sit out the rest of a schedule that may reach hours. Attempts
/// in flight keep their leases; an endpoint paused by `Retry-After` stays paused.
pub fn retry_now(conn: &mut PgConnection, endpoint: EndpointId) -> Result<usize, Error> {
    Ok(diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::endpoint_id.eq(endpoint.as_uuid()))
            .filter(webhook_deliveries::status.eq(PENDING))
            .filter(webhook_deliveries::next_attempt_at.gt(now))
            .filter(not_in_flight()),
    )
    .set(webhook_deliveries::next_attempt_at.eq(now))
    .execute(conn)?)
}

/// Fails the endpoint's pending deliveries (it was disabled): RecoverEndpoint replays
/// them once it is enabled again.
pub(super) fn fail_pending(conn: &mut PgConnection, endpoint: EndpointId) -> Result<(), Error> {
    diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::endpoint_id.eq(endpoint.as_uuid()))
            .filter(webhook_deliveries::status.eq(PENDING)),
    )
    .set((
        webhook_deliveries::status.eq(FAILED),
        webhook_deliveries::leased_until.eq(None::<DateTime<Utc>>),
        webhook_deliveries::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(())
}

/// A page of an endpoint's deliveries, newest first, optionally of one status.
pub fn list(
    conn: &mut PgConnection,
    account: &AccountId,
    endpoint: EndpointId,
    status: Option<DeliveryStatus>,
    page: PageRequest<DeliveryId>,
) -> Result<Page<Delivery>, Error> {
    super::webhook_endpoints::find(conn, account, endpoint)?;
    let mut query = webhook_deliveries::table
        .filter(webhook_deliveries::account_id.eq(account.as_str()))
        .filter(webhook_deliveries::endpoint_id.eq(endpoint.as_uuid()))
        .select(DeliveryRow::as_select())
        .order(webhook_deliveries::id.desc())
        .limit(page.size.get() as i64 + 1)
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(webhook_deliveries::status.eq(codes::delivery_status(status)));
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

/// Queues one event's delivery to the enabled endpoint again, now, with a fresh retry
/// schedule.
pub fn redeliver(
    conn: &mut PgConnection,
    account: &AccountId,
    endpoint: EndpointId,
    event_id: Uuid,
) -> Result<Delivery, Error> {
    conn.transaction(|conn| {
        find_enabled(conn, account, endpoint)?;
        requeue_event(conn, account, endpoint, event_id)
    })
}

/// Queues a test webhook (`delivery`) to the enabled endpoint, and returns it.
pub fn send_test(
    conn: &mut PgConnection,
    account: &AccountId,
    delivery: NewDelivery,
) -> Result<Delivery, Error> {
    conn.transaction(|conn| {
        find_enabled(conn, account, delivery.endpoint_id)?;
        record(conn, account.as_str(), std::slice::from_ref(&delivery))?;
        find_by_event(conn, account, delivery.endpoint_id, delivery.event_id)
    })
}

fn requeue_event(
    conn: &mut PgConnection,
    account: &AccountId,
    endpoint: EndpointId,
    event_id: Uuid,
) -> Result<Delivery, Error> {
    let requeued = diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::account_id.eq(account.as_str()))
            .filter(webhook_deliveries::endpoint_id.eq(endpoint.as_uuid()))
            .filter(webhook_deliveries::event_id.eq(event_id))
            .filter(not_in_flight()),
    )
    .set(requeue())
    .returning(DeliveryRow::as_returning())
    .get_result(conn)
    .optional()?;
    match requeued {
        Some(row) => row.into_domain(),
        None => {
            // Either there is no such delivery, or an attempt of it is under way.
            find_by_event(conn, account, endpoint, event_id)?;
            Err(Error::FailedPrecondition(
                "an attempt of this delivery is in flight; redeliver it once that ends".into(),
            ))
        }
    }
}

/// The endpoint's delivery of one event.
fn find_by_event(
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

/// Queues again every delivery of the enabled endpoint that failed at or after `since`.
pub fn recover(
    conn: &mut PgConnection,
    account: &AccountId,
    endpoint: EndpointId,
    since: DateTime<Utc>,
) -> Result<usize, Error> {
    conn.transaction(|conn| {
        find_enabled(conn, account, endpoint)?;
        requeue_failed(conn, account, endpoint, since)
    })
}

fn requeue_failed(
    conn: &mut PgConnection,
    account: &AccountId,
    endpoint: EndpointId,
    since: DateTime<Utc>,
) -> Result<usize, Error> {
    Ok(diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::account_id.eq(account.as_str()))
            .filter(webhook_deliveries::endpoint_id.eq(endpoint.as_uuid()))
            .filter(webhook_deliveries::status.eq(FAILED))
            .filter(webhook_deliveries::updated_at.ge(since))
            .filter(not_in_flight()),
    )
    .set(requeue())
    .execute(conn)?)
}

/// Deletes up to `batch` deliveries (and their attempts) that finished — succeeded or
/// failed — before `before`; how many. Pending ones are kept whatever their age.
pub fn purge_finished(
    conn: &mut PgConnection,
    before: DateTime<Utc>,
    batch: i64,
) -> Result<usize, Error> {
    Ok(diesel::sql_query(format!(
        "DELETE FROM webhook_deliveries WHERE id IN ( \
           SELECT id FROM webhook_deliveries \
           WHERE status <> '{PENDING}' AND updated_at < $1 \
           LIMIT $2)",
    ))
    .bind::<diesel::sql_types::Timestamptz, _>(before)
    .bind::<BigInt, _>(batch)
    .execute(conn)?)
}

/// How many deliveries are pending (all endpoints), and since when the longest-waiting
/// one a dispatcher could claim now has been due (the claim's conditions: a delivery
/// waiting for a pause, a lease or an earlier event is the partner's delay, not ours).
pub fn pending_summary(conn: &mut PgConnection) -> Result<(i64, Option<DateTime<Utc>>), Error> {
    #[derive(QueryableByName)]
    struct Summary {
        #[diesel(sql_type = BigInt)]
        pending: i64,
        #[diesel(sql_type = Nullable<diesel::sql_types::Timestamptz>)]
        oldest_due: Option<DateTime<Utc>>,
    }
    let summary: Summary = diesel::sql_query(format!(
        "SELECT count(*) AS pending, \
                min(d.next_attempt_at) FILTER (WHERE \
                  d.next_attempt_at <= now() AND e.enabled \
                  AND (e.paused_until IS NULL OR e.paused_until <= now()) \
                  AND (d.leased_until IS NULL OR d.leased_until < now()) \
                  AND NOT EXISTS ( \
                    SELECT 1 FROM webhook_deliveries earlier \
                    WHERE earlier.endpoint_id = d.endpoint_id \
                      AND earlier.producer_id = d.producer_id \
                      AND earlier.status = '{PENDING}' AND earlier.sequence < d.sequence)) \
                AS oldest_due \
         FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
         WHERE d.status = '{PENDING}'",
    ))
    .get_result(conn)?;
    Ok((summary.pending, summary.oldest_due))
}

/// No attempt of the delivery is under way (an unexpired claim holds it).
fn not_in_flight() -> diesel::dsl::Or<
    diesel::dsl::IsNull<webhook_deliveries::leased_until>,
    diesel::dsl::Lt<webhook_deliveries::leased_until, now>,
> {
    webhook_deliveries::leased_until
        .is_null()
        .or(webhook_deliveries::leased_until.lt(now))
}

type Requeue = (
    diesel::dsl::Eq<webhook_deliveries::status, &'static str>,
    diesel::dsl::Eq<webhook_deliveries::attempts, i32>,
    diesel::dsl::Eq<webhook_deliveries::next_attempt_at, now>,
    diesel::dsl::Eq<webhook_deliveries::leased_until, Option<DateTime<Utc>>>,
    diesel::dsl::Eq<webhook_deliveries::lease_token, Option<Uuid>>,
    diesel::dsl::Eq<webhook_deliveries::updated_at, now>,
);

fn requeue() -> Requeue {
    (
        webhook_deliveries::status.eq(PENDING),
        webhook_deliveries::attempts.eq(0),
        webhook_deliveries::next_attempt_at.eq(now),
        webhook_deliveries::leased_until.eq(None::<DateTime<Utc>>),
        webhook_deliveries::lease_token.eq(None::<Uuid>),
        webhook_deliveries::updated_at.eq(now),
    )
}
