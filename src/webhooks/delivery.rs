//! The delivery loop: claims due deliveries from Postgres (several dispatchers share
//! them: `SKIP LOCKED` and a lease), attempts each one, and records the outcome — success,
//! a retry at the next time of the schedule (or the receiver's `Retry-After`), or failure.
//!
//! A slow or failing endpoint cannot slow the others: each endpoint has a small in-flight
//! limit here, endpoints at their limit are left out of the next claim, and every attempt
//! runs in its own task over a shared connection pool.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use diesel::Connection as _;
use ring::rand::{SecureRandom, SystemRandom};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tracing::Instrument;
use uuid::Uuid;

use super::http::{Deliverer, Outcome};
use crate::crypto::Protection;
use crate::domain::webhook::{Attempt, Delivery, RetrySchedule};
use crate::domain::{DeliveryId, EndpointId, Error};
use crate::metrics::dispatcher::{AttemptOutcome, DisableReason, DispatcherMetrics};
use crate::storage::Database;
use crate::storage::webhook_deliveries::{self, DueDelivery, InFlight, Next, Recorded};
use crate::storage::webhook_endpoints;
use crate::telemetry::trace_context::{continue_trace, trace_id_of, traceparent_of};

/// How the loop runs.
#[derive(Clone)]
pub struct DeliverySettings {
    pub schedule: RetrySchedule,
    pub disable_after: chrono::Duration,
    pub max_in_flight: usize,
    pub max_in_flight_per_endpoint: usize,
    pub poll_interval: Duration,
    /// How long a claim holds a delivery: longer than an attempt can take.
    pub lease: Duration,
    /// How long finished deliveries (and their attempts) are kept.
    pub retention: chrono::Duration,
    pub metrics: DispatcherMetrics,
}

/// How often finished deliveries past the retention are purged.
const PURGE_EVERY: Duration = Duration::from_secs(600);
/// Most deliveries one purge statement deletes (short transactions, no long locks).
const PURGE_BATCH: i64 = 1000;

/// Shared by the loop and its attempt tasks.
struct Context {
    db: Database,
    protection: Arc<Protection>,
    deliverer: Deliverer,
    settings: DeliverySettings,
    /// Per endpoint with a rate limit: when its next attempt may start.
    next_slot: Mutex<HashMap<Uuid, Instant>>,
}

/// The attempts running in this dispatcher, counted per endpoint (the count is what
/// keeps one endpoint from taking every slot; it must come down even if a task panics).
#[derive(Default)]
struct InFlightAttempts {
    tasks: JoinSet<()>,
    endpoint_of: HashMap<tokio::task::Id, Uuid>,
    per_endpoint: HashMap<Uuid, i32>,
}

impl InFlightAttempts {
    fn spawn(&mut self, context: &Arc<Context>, due: DueDelivery) {
        let endpoint = due.endpoint_id;
        let context = context.clone();
        let handle = self
            .tasks
            .spawn(async move { attempt(&context, due).await });
        self.endpoint_of.insert(handle.id(), endpoint);
        *self.per_endpoint.entry(endpoint).or_default() += 1;
    }

    fn finished(&mut self, done: Result<(tokio::task::Id, ()), tokio::task::JoinError>) {
        let id = match done {
            Ok((id, ())) => id,
            Err(error) => {
                tracing::error!(%error, "a webhook attempt task failed; its lease will expire and it is retried");
                error.id()
            }
        };
        let Some(endpoint) = self.endpoint_of.remove(&id) else {
            return;
        };
        if let Some(count) = self.per_endpoint.get_mut(&endpoint) {
            *count -= 1;
            if *count <= 0 {
                self.per_endpoint.remove(&endpoint);
            }
        }
    }

    fn snapshot(&self) -> Vec<InFlight> {
        self.per_endpoint
            .iter()
            .map(|(endpoint_id, count)| InFlight {
                endpoint_id: *endpoint_id,
                count: *count,
            })
            .collect()
    }
}

/// Delivers until `stop`; then waits for the attempts in flight to finish.
pub async fn run(
    db: Database,
    protection: Arc<Protection>,
    deliverer: Deliverer,
    settings: DeliverySettings,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let context = Arc::new(Context {
        db,
        protection,
        deliverer,
        settings,
        next_slot: Mutex::new(HashMap::new()),
    });
    let mut in_flight = InFlightAttempts::default();
    let mut last_purge: Option<Instant> = None;
    while !*stop.borrow() {
        if last_purge.is_none_or(|at| at.elapsed() >= PURGE_EVERY) {
            purge(&context).await;
            last_purge = Some(Instant::now());
        }
        let room = context
            .settings
            .max_in_flight
            .saturating_sub(in_flight.tasks.len());
        if room > 0 {
            match claim(&context, room, in_flight.snapshot()).await {
                Ok(claimed) => {
                    for due in claimed {
                        in_flight.spawn(&context, due);
                    }
                }
                Err(error) => tracing::warn!(%error, "claiming due deliveries failed"),
            }
        }
        tokio::select! {
            _ = wake.notified() => {}
            Some(done) = in_flight.tasks.join_next_with_id() => in_flight.finished(done),
            _ = tokio::time::sleep(context.settings.poll_interval) => {}
            _ = stop.changed() => {}
        }
    }
    while let Some(done) = in_flight.tasks.join_next_with_id().await {
        in_flight.finished(done);
    }
    tracing::info!("webhook delivery stopped");
}

/// Claims up to `room` due deliveries, each endpoint up to its in-flight limit.
async fn claim(
    context: &Context,
    room: usize,
    in_flight: Vec<InFlight>,
) -> Result<Vec<DueDelivery>, Error> {
    let per_endpoint = context.settings.max_in_flight_per_endpoint as i32;
    let lease = context.settings.lease;
    context
        .db
        .run(move |conn| {
            webhook_deliveries::claim_due(conn, room as i64, &in_flight, per_endpoint, lease)
        })
        .await
}

/// Deletes finished deliveries past the retention, a batch at a time.
async fn purge(context: &Context) {
    let before = Utc::now() - context.settings.retention;
    let purged = context
        .db
        .run(move |conn| {
            let mut total = 0;
            loop {
                let purged = webhook_deliveries::purge_finished(conn, before, PURGE_BATCH)?;
                total += purged;
                if purged < PURGE_BATCH as usize {
                    return Ok(total);
                }
            }
        })
        .await;
    match purged {
        Ok(0) => {}
        Ok(count) => tracing::info!(count, "purged finished webhook deliveries past retention"),
        Err(error) => tracing::warn!(%error, "purging finished webhook deliveries failed"),
    }
}

/// One attempt of one delivery, and its record.
async fn attempt(context: &Context, due: DueDelivery) {
    // A span in the event's trace (started by the call that changed the producer), so
    // the attempt's log lines carry the caller's trace id and its export joins the trace.
    let span = tracing::info_span!(
        "webhook_attempt",
        delivery = %due.id,
        trace_id = tracing::field::Empty,
    );
    if let Some(traceparent) = &due.traceparent {
        continue_trace(&span, traceparent);
    }
    let traceparent = traceparent_of(&span).or_else(|| due.traceparent.clone());
    if let Some(trace_id) = traceparent.as_deref().and_then(trace_id_of) {
        span.record("trace_id", trace_id);
    }
    attempt_in_trace(context, due, traceparent)
        .instrument(span)
        .await
}

/// The attempt, sending `traceparent` (the attempt's own span) to the receiver.
async fn attempt_in_trace(context: &Context, due: DueDelivery, traceparent: Option<String>) {
    let delivery = DeliveryId::from_uuid(due.id);
    let endpoint = EndpointId::from_uuid(due.endpoint_id);
    let lease_token = due.lease_token;
    let secrets = match due.secrets.open(&context.protection, endpoint) {
        Ok(secrets) => secrets,
        Err(error) => {
            tracing::warn!(%error, %delivery, "cannot open the endpoint's secrets; the delivery stays due");
            let _ = context
                .db
                .run(move |conn| webhook_deliveries::release(conn, delivery, lease_token))
                .await;
            return;
        }
    };
    wait_for_slot(context, due.endpoint_id, due.rate_limit_per_second).await;
    let attempted_at = Utc::now();
    let outcome = match url::Url::parse(&due.url) {
        Ok(url) => {
            let secrets: Vec<_> = secrets.iter().collect();
            let webhook_id = Delivery::webhook_id(due.event_id);
            context
                .deliverer
                .send(
                    &url,
                    &webhook_id,
                    &due.body,
                    &secrets,
                    traceparent.as_deref(),
                )
                .await
        }
        Err(error) => Outcome::refused(format!("invalid endpoint URL: {error}")),
    };
    let next = next_step(
        &outcome,
        due.attempts,
        &context.settings.schedule,
        random_unit(),
    );
    tracing::info!(
        %delivery,
        %endpoint,
        status = outcome.status,
        latency_ms = outcome.latency.as_millis() as u64,
        error = outcome.error.as_deref().unwrap_or(""),
        next = ?next,
        traceparent = traceparent.as_deref().unwrap_or(""),
        "webhook attempt"
    );
    let counted_as = match next {
        Next::Succeeded => AttemptOutcome::Succeeded,
        Next::RetryAt(_) => AttemptOutcome::Retried,
        Next::Failed => AttemptOutcome::Failed,
    };
    context
        .settings
        .metrics
        .attempt(counted_as, outcome.latency.as_secs_f64());
    let record = Attempt {
        id: Uuid::now_v7(),
        delivery_id: delivery,
        attempted_at,
        status_code: outcome.status,
        latency_ms: outcome.latency.as_millis() as i64,
        error: outcome.error.clone(),
        response_body: outcome.body_excerpt.clone(),
    };
    let outcome_effects = OutcomeEffects {
        gone: outcome.gone(),
        succeeded: outcome.succeeded(),
        paused_until: outcome
            .retry_after
            .and_then(|wait| chrono::Duration::from_std(wait).ok())
            .map(|wait| Utc::now() + wait),
    };
    // A failed write is retried a few times: otherwise the attempt is lost and, once the
    // lease runs out, the same webhook is sent again.
    for try_number in 1..=RECORD_TRIES {
        let record = record.clone();
        let effects = outcome_effects;
        let disable_after = context.settings.disable_after;
        let stored = context
            .db
            .run(move |conn| {
                // One transaction: whoever sees the attempt also sees its effects (a pause,
                // a disable).
                conn.transaction(|conn| {
                    let recorded = webhook_deliveries::finish_attempt(
                        conn,
                        &record,
                        endpoint,
                        lease_token,
                        next,
                    )?;
                    if recorded == Recorded::Gone {
                        return Ok(None);
                    }
                    effects.apply(conn, endpoint, disable_after)
                })
            })
            .await;
        match stored {
            Ok(Some(reason)) => {
                context.settings.metrics.endpoint_disabled(reason);
                return tracing::warn!(%endpoint, ?reason, "endpoint disabled");
            }
            Ok(None) => return,
            Err(error) if try_number < RECORD_TRIES => {
                tracing::warn!(%error, %delivery, "recording the attempt failed; trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(error) => {
                tracing::error!(%error, %delivery, "recording the attempt failed; the lease will expire and it is retried")
            }
        }
    }
}

/// How often an attempt's record is tried before the attempt is given up.
const RECORD_TRIES: u32 = 3;

/// What an attempt's outcome means for its endpoint.
#[derive(Debug, Clone, Copy)]
struct OutcomeEffects {
    /// 410: disable it.
    gone: bool,
    succeeded: bool,
    /// `Retry-After`: hold all its deliveries until then.
    paused_until: Option<chrono::DateTime<Utc>>,
}

impl OutcomeEffects {
    /// Applies them; why the endpoint was disabled, if it was.
    fn apply(
        self,
        conn: &mut diesel::PgConnection,
        endpoint: EndpointId,
        disable_after: chrono::Duration,
    ) -> Result<Option<DisableReason>, Error> {
        if self.gone {
            webhook_endpoints::disable(conn, endpoint, "the endpoint answered 410 Gone")?;
            return Ok(Some(DisableReason::Gone));
        }
        if let Some(until) = self.paused_until {
            webhook_endpoints::pause(conn, endpoint, until)?;
        }
        let disabled =
            webhook_endpoints::note_outcome(conn, endpoint, self.succeeded, disable_after)?;
        Ok(disabled.then_some(DisableReason::Failing))
    }
}

/// Waits until the endpoint's rate limit allows another attempt.
async fn wait_for_slot(context: &Context, endpoint: Uuid, per_second: Option<i32>) {
    let Some(per_second) = per_second.filter(|n| *n > 0) else {
        return;
    };
    let spacing = Duration::from_secs_f64(1.0 / f64::from(per_second));
    let start = {
        let mut slots = context.next_slot.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let start = slots.get(&endpoint).copied().unwrap_or(now).max(now);
        slots.insert(endpoint, start + spacing);
        start
    };
    tokio::time::sleep_until(start.into()).await;
}

/// What follows an attempt: success; a retry after the schedule's next delay, or later
/// when the receiver's `Retry-After` asks for more (never sooner: a `Retry-After: 0`
/// must not burn the schedule in seconds); failure when out of retries or the endpoint
/// is gone.
pub fn next_step(
    outcome: &Outcome,
    attempts_before: i32,
    schedule: &RetrySchedule,
    unit: f64,
) -> Next {
    if outcome.succeeded() {
        return Next::Succeeded;
    }
    if outcome.gone() {
        return Next::Failed;
    }
    let failures = attempts_before.max(0) as usize + 1;
    match schedule.delay_after(failures, unit) {
        Some(delay) => {
            let wait = outcome.retry_after.map_or(delay, |asked| asked.max(delay));
            let wait = chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(24));
            Next::RetryAt(Utc::now() + wait)
        }
        None => Next::Failed,
    }
}

fn random_unit() -> f64 {
    let mut bytes = [0u8; 8];
    if SystemRandom::new().fill(&mut bytes).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: Option<u16>, retry_after: Option<u64>) -> Outcome {
        Outcome {
            status,
            latency: Duration::ZERO,
            error: None,
            body_excerpt: String::new(),
            retry_after: retry_after.map(Duration::from_secs),
            refused: false,
        }
    }

    #[test]
    fn outcomes_lead_to_success_retry_or_failure() {
        let schedule = RetrySchedule::parse("10s,20s", 0.0).unwrap();
        assert_eq!(
            next_step(&outcome(Some(204), None), 0, &schedule, 0.5),
            Next::Succeeded
        );
        assert_eq!(
            next_step(&outcome(Some(410), None), 0, &schedule, 0.5),
            Next::Failed
        );
        let Next::RetryAt(at) = next_step(&outcome(Some(500), None), 0, &schedule, 0.5) else {
            panic!()
        };
        let wait = (at - Utc::now()).num_seconds();
        assert!((9..=10).contains(&wait), "{wait}");
        let Next::RetryAt(at) = next_step(&outcome(Some(429), Some(120)), 1, &schedule, 0.5) else {
            panic!()
        };
        assert!(
            (at - Utc::now()).num_seconds() >= 119,
            "Retry-After asks for longer"
        );
        let Next::RetryAt(at) = next_step(&outcome(Some(503), Some(0)), 0, &schedule, 0.5) else {
            panic!()
        };
        assert!(
            (at - Utc::now()).num_seconds() >= 9,
            "Retry-After never shortens the schedule"
        );
        assert_eq!(
            next_step(&outcome(None, None), 2, &schedule, 0.5),
            Next::Failed,
            "out of retries"
        );
        assert_eq!(
            next_step(&outcome(Some(302), None), 2, &schedule, 0.5),
            Next::Failed
        );
    }

    #[test]
    fn random_units_are_in_range() {
        for _ in 0..100 {
            let unit = random_unit();
            assert!((0.0..1.0).contains(&unit));
        }
    }
}
