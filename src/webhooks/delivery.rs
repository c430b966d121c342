//! The delivery loop: claims due deliveries from Postgres (several dispatchers share
//! them: `SKIP LOCKED` and a lease), then takes each through `send`, [`decide`] (what the
//! answer means: a [`Decision`]) and `record`.
//!
//! A slow or failing endpoint cannot slow the others: each endpoint has a small in-flight
//! limit here (its slots), endpoints with all their claims taken are left out of the next
//! claim, and every attempt runs in its own task over a shared connection pool.
//!
//! Claims are what the loop waits on (a round trip each), so it claims ahead: up to
//! [`CLAIMED_PER_SLOT`] deliveries per slot, and takes every attempt that ended since the
//! last claim into account before the next.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ring::rand::{SecureRandom, SystemRandom};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tracing::Instrument;
use uuid::Uuid;

use super::http::{Deliverer, Outcome};
use crate::crypto::Protection;
use crate::domain::webhook::{Attempt, Decision, Delivery, DisableReason, RetrySchedule};
use crate::domain::{DeliveryId, EndpointId, Error};
use crate::metrics::dispatcher::DispatcherMetrics;
use crate::storage::Database;
use crate::storage::webhook_deliveries::{self, DueDelivery, FinishedAttempt, InFlight};
use crate::storage::webhook_endpoints;
use crate::telemetry::trace_context::{continue_trace, trace_id_of, traceparent_of};

/// How the loop runs.
#[derive(Clone)]
pub struct DeliverySettings {
    /// When a failed delivery is tried again, and when it fails for good.
    pub schedule: RetrySchedule,
    /// How long an endpoint may fail every attempt before it is disabled.
    pub disable_after: chrono::Duration,
    /// Most attempts in flight from this dispatcher.
    pub max_in_flight: usize,
    /// Most attempts in flight to one endpoint from this dispatcher, so a slow endpoint
    /// cannot take every slot.
    pub max_in_flight_per_endpoint: usize,
    /// How often due deliveries are looked for when nothing wakes the loop.
    pub poll_interval: Duration,
    /// How long a claim holds a delivery: longer than an attempt can take.
    pub lease: Duration,
    /// How long finished deliveries (and their attempts) are kept.
    pub retention: chrono::Duration,
    /// Where attempts, disablements and the pending work are counted.
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
    /// Where attempts go to be recorded (at most one per attempt task is waiting).
    recorder: mpsc::UnboundedSender<ToRecord>,
}

/// How many deliveries an endpoint may have claimed per attempt it may have in flight.
/// The claimed ones beyond its in-flight limit wait here, leased, for a slot: an attempt
/// that ends starts the next at once, without waiting for the next claim's round trip.
/// (They wait for one attempt at most, which the lease allows for.)
const CLAIMED_PER_SLOT: usize = 2;

/// The attempts of this dispatcher, counted per endpoint (the count is what keeps one
/// endpoint from taking every slot; it must come down even if a task panics).
#[derive(Default)]
struct InFlightAttempts {
    tasks: JoinSet<()>,
    endpoint_of: HashMap<tokio::task::Id, Uuid>,
    per_endpoint: HashMap<Uuid, Claimed>,
}

/// One endpoint's claimed deliveries: how many, and the slots they take turns in.
struct Claimed {
    count: i32,
    slots: Arc<Semaphore>,
}

impl InFlightAttempts {
    fn spawn(&mut self, context: &Arc<Context>, due: DueDelivery) {
        let endpoint = due.endpoint_id;
        let claimed = self
            .per_endpoint
            .entry(endpoint)
            .or_insert_with(|| Claimed {
                count: 0,
                slots: Arc::new(Semaphore::new(context.settings.max_in_flight_per_endpoint)),
            });
        claimed.count += 1;
        let (context, slots) = (context.clone(), claimed.slots.clone());
        let handle = self
            .tasks
            .spawn(async move { attempt(&context, due, &slots).await });
        self.endpoint_of.insert(handle.id(), endpoint);
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
        if let Some(claimed) = self.per_endpoint.get_mut(&endpoint) {
            claimed.count -= 1;
            if claimed.count <= 0 {
                self.per_endpoint.remove(&endpoint);
            }
        }
    }

    fn snapshot(&self) -> Vec<InFlight> {
        self.per_endpoint
            .iter()
            .map(|(endpoint_id, claimed)| InFlight {
                endpoint_id: *endpoint_id,
                count: claimed.count,
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
    let (recorder, to_record) = mpsc::unbounded_channel();
    let recording = tokio::spawn(record_together(
        db.clone(),
        settings.disable_after,
        to_record,
    ));
    let context = Arc::new(Context {
        db,
        protection,
        deliverer,
        settings,
        next_slot: Mutex::new(HashMap::new()),
        recorder,
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
        // Every attempt that finished meanwhile (during the last claim, say) frees its
        // slot now: the next claim fills them all at once, not one claim per attempt.
        while let Some(done) = in_flight.tasks.try_join_next_with_id() {
            in_flight.finished(done);
        }
    }
    while let Some(done) = in_flight.tasks.join_next_with_id().await {
        in_flight.finished(done);
    }
    // The last sender: the recorder ends once it has written what it holds.
    drop(context);
    let _ = recording.await;
    tracing::info!("webhook delivery stopped");
}

/// Claims up to `room` due deliveries, each endpoint up to its in-flight limit.
async fn claim(
    context: &Context,
    room: usize,
    in_flight: Vec<InFlight>,
) -> Result<Vec<DueDelivery>, Error> {
    let per_endpoint = (context.settings.max_in_flight_per_endpoint * CLAIMED_PER_SLOT) as i32;
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

/// One attempt of one delivery, in one of its endpoint's `slots`, and its record.
async fn attempt(context: &Context, due: DueDelivery, slots: &Semaphore) {
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
    attempt_in_trace(context, due, slots, traceparent)
        .instrument(span)
        .await
}

/// The attempt, sending `traceparent` (the attempt's own span) to the receiver.
async fn attempt_in_trace(
    context: &Context,
    due: DueDelivery,
    slots: &Semaphore,
    traceparent: Option<String>,
) {
    // The slot is held while the request is out, not while its record is written.
    let Ok(slot) = slots.acquire().await else {
        return; // never closed
    };
    let sent = send(context, &due, traceparent.as_deref()).await;
    drop(slot);
    let Some((attempted_at, outcome)) = sent else {
        // Not sent: the claim goes back, and the delivery stays due.
        let (delivery, lease_token) = (DeliveryId::from_uuid(due.id), due.lease_token);
        let _ = context
            .db
            .run(move |conn| webhook_deliveries::release(conn, delivery, lease_token))
            .await;
        return;
    };
    let schedule = &context.settings.schedule;
    let decision = decide(&outcome, due.attempts, schedule, random_unit(), Utc::now());
    tracing::info!(
        delivery = %DeliveryId::from_uuid(due.id),
        endpoint = %EndpointId::from_uuid(due.endpoint_id),
        status = outcome.status,
        latency_ms = outcome.latency.as_millis() as u64,
        error = outcome.error.as_deref().unwrap_or(""),
        next = %decision.next_step(),
        traceparent = traceparent.as_deref().unwrap_or(""),
        "webhook attempt"
    );
    let seconds = outcome.latency.as_secs_f64();
    context.settings.metrics.attempt(&decision, seconds);
    let attempt = Attempt {
        id: Uuid::now_v7(),
        delivery_id: DeliveryId::from_uuid(due.id),
        attempted_at,
        status_code: outcome.status,
        latency_ms: outcome.latency.as_millis() as i64,
        error: outcome.error,
        response_body: outcome.body_excerpt,
    };
    record(context, &due, attempt, decision).await;
}

/// Signs and sends the delivery once its endpoint's rate limit allows: when the request
/// went out, and what came of it. `None`: the endpoint's secrets cannot be opened, and
/// nothing was sent.
async fn send(
    context: &Context,
    due: &DueDelivery,
    traceparent: Option<&str>,
) -> Option<(DateTime<Utc>, Outcome)> {
    let delivery = DeliveryId::from_uuid(due.id);
    let endpoint = EndpointId::from_uuid(due.endpoint_id);
    let secrets = match due.secrets.clone().open(&context.protection, endpoint) {
        Ok(secrets) => secrets,
        Err(error) => {
            tracing::warn!(%error, %delivery, "cannot open the endpoint's secrets; the delivery stays due");
            return None;
        }
    };
    wait_for_slot(context, due.endpoint_id, due.rate_limit_per_second).await;
    let attempted_at = Utc::now();
    let outcome = match url::Url::parse(&due.url) {
        Ok(url) => {
            let secrets: Vec<_> = secrets.iter().collect();
            let webhook_id = Delivery::webhook_id(due.event_id);
            let body = &due.body;
            context
                .deliverer
                .send(&url, &webhook_id, body, &secrets, traceparent)
                .await
        }
        Err(error) => Outcome::refused(format!("invalid endpoint URL: {error}")),
    };
    Some((attempted_at, outcome))
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

/// What follows an attempt that ended at `now`, after `attempts_before` earlier ones:
/// success; a retry after the schedule's next delay (`unit` in [0, 1) draws its jitter),
/// or later when the receiver's `Retry-After` asks for more (never sooner: a
/// `Retry-After: 0` must not burn the schedule in seconds); failure when out of retries;
/// a disabled endpoint when it is gone.
pub fn decide(
    outcome: &Outcome,
    attempts_before: i32,
    schedule: &RetrySchedule,
    unit: f64,
    now: DateTime<Utc>,
) -> Decision {
    if outcome.succeeded() {
        return Decision::Succeeded;
    }
    if outcome.status == Some(410) {
        return Decision::EndpointGone;
    }
    let pause_until = outcome
        .retry_after
        .and_then(|wait| chrono::Duration::from_std(wait).ok())
        .map(|wait| now + wait);
    let failures = attempts_before.max(0) as usize + 1;
    match schedule.delay_after(failures, unit) {
        Some(delay) => {
            let wait = outcome.retry_after.map_or(delay, |asked| asked.max(delay));
            let wait = chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(24));
            let at = now + wait;
            Decision::Retry { at, pause_until }
        }
        None => Decision::Failed { pause_until },
    }
}

/// How often an attempt's record is tried before the attempt is given up.
const RECORD_TRIES: u32 = 3;

/// Records the attempt and its decision: the delivery's next state and the endpoint's (a
/// pause, its health, a disable), in one transaction with the other attempts that end
/// meanwhile ([`record_together`]). A failed write is retried a few times: otherwise the
/// attempt is lost and, once the lease runs out, the same webhook is sent again.
async fn record(context: &Context, due: &DueDelivery, attempt: Attempt, decision: Decision) {
    let finished = FinishedAttempt {
        attempt,
        endpoint_id: EndpointId::from_uuid(due.endpoint_id),
        lease_token: due.lease_token,
        next: decision.next(),
    };
    let (delivery, endpoint) = (finished.attempt.delivery_id, finished.endpoint_id);
    for try_number in 1..=RECORD_TRIES {
        let (recorded, answer) = oneshot::channel();
        let queued = ToRecord {
            finished: finished.clone(),
            decision,
            recorded,
        };
        let stored = match context.recorder.send(queued) {
            Ok(()) => answer.await.unwrap_or_else(|_| Err(recorder_gone())),
            Err(_) => Err(recorder_gone()),
        };
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

fn recorder_gone() -> Error {
    Error::Unavailable("the attempt recorder stopped".into())
}

/// Most attempts recorded in one transaction.
const RECORD_BATCH: usize = 64;

/// An attempt on its way to [`record_together`], and where its outcome goes: the reason
/// its endpoint was disabled, if it was.
struct ToRecord {
    finished: FinishedAttempt,
    decision: Decision,
    recorded: oneshot::Sender<Result<Option<DisableReason>, Error>>,
}

/// Writes the attempts' records, one transaction at a time. The attempts that end while
/// one is written go into the next together: one commit (one WAL flush) and a few
/// statements for all of them. (Measured: one writer delivers faster than two or four,
/// which leave each attempt a transaction of its own.) Should a shared transaction fail,
/// each of its attempts is written alone, so one attempt's failure is its own.
async fn record_together(
    db: Database,
    disable_after: chrono::Duration,
    mut queue: mpsc::UnboundedReceiver<ToRecord>,
) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while queue.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        write_batch(&db, std::mem::take(&mut batch), disable_after).await;
    }
}

/// One batch of [`record_together`], each attempt told its outcome.
async fn write_batch(db: &Database, mut batch: Vec<ToRecord>, disable_after: chrono::Duration) {
    // By endpoint: two dispatchers' batches lock endpoint rows in the same order.
    batch.sort_by_key(|one| one.finished.endpoint_id.as_uuid());
    match write_records(db, &batch, disable_after).await {
        Ok(outcomes) => {
            for (one, outcome) in batch.into_iter().zip(outcomes) {
                let _ = one.recorded.send(Ok(outcome));
            }
        }
        Err(error) if batch.len() == 1 => {
            let _ = batch.remove(0).recorded.send(Err(error));
        }
        Err(_) => {
            for one in batch {
                let alone = write_records(db, std::slice::from_ref(&one), disable_after);
                let outcome = alone.await.map(|mut outcomes| outcomes.remove(0));
                let _ = one.recorded.send(outcome);
            }
        }
    }
}

/// The attempts' records, and their effects on their endpoints, in one transaction:
/// for each attempt, the reason its endpoint was disabled, if it was.
async fn write_records(
    db: &Database,
    batch: &[ToRecord],
    disable_after: chrono::Duration,
) -> Result<Vec<Option<DisableReason>>, Error> {
    let finished: Vec<FinishedAttempt> = batch.iter().map(|one| one.finished.clone()).collect();
    let decisions: Vec<Decision> = batch.iter().map(|one| one.decision).collect();
    db.run(move |conn| {
        webhook_deliveries::finish_attempts(conn, &finished, |conn, recorded| {
            let applied = applied_decisions(&finished, &decisions, recorded);
            let mut disabled = Vec::with_capacity(finished.len());
            for ((one, decision), applied) in finished.iter().zip(&decisions).zip(applied) {
                disabled.push(match applied {
                    true => webhook_endpoints::apply_decision(
                        conn,
                        one.endpoint_id,
                        *decision,
                        disable_after,
                    )?,
                    false => None,
                });
            }
            Ok(disabled)
        })
    })
    .await
}

/// Which attempts' decisions a batch applies to their endpoints: every recorded one,
/// except a success right after a success of the same endpoint, which would change
/// nothing (only the first of a run is noted; a failure in between starts a new run).
fn applied_decisions(
    finished: &[FinishedAttempt],
    decisions: &[Decision],
    recorded: &[bool],
) -> Vec<bool> {
    let mut after_success = std::collections::HashSet::new();
    finished
        .iter()
        .zip(decisions)
        .zip(recorded)
        .map(|((one, decision), recorded)| {
            let endpoint = one.endpoint_id;
            let succeeded = *decision == Decision::Succeeded;
            if !*recorded || (succeeded && after_success.contains(&endpoint)) {
                return false;
            }
            if succeeded {
                after_success.insert(endpoint);
            } else {
                after_success.remove(&endpoint);
            }
            true
        })
        .collect()
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
    use crate::domain::webhook::DeliveryStatus;

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
        let after = |outcome, attempts| decide(&outcome, attempts, &schedule, 0.5, Utc::now());
        assert_eq!(after(outcome(Some(204), None), 0), Decision::Succeeded);
        assert_eq!(after(outcome(Some(410), None), 0), Decision::EndpointGone);
        let Decision::Retry { at, .. } = after(outcome(Some(500), None), 0) else {
            panic!()
        };
        let wait = (at - Utc::now()).num_seconds();
        assert!((9..=10).contains(&wait), "{wait}");
        let Decision::Retry { at, pause_until } = after(outcome(Some(429), Some(120)), 1) else {
            panic!()
        };
        assert!(
            (at - Utc::now()).num_seconds() >= 119,
            "Retry-After asks for longer"
        );
        assert!(pause_until.is_some(), "and pauses the endpoint");
        let Decision::Retry { at, .. } = after(outcome(Some(503), Some(0)), 0) else {
            panic!()
        };
        assert!(
            (at - Utc::now()).num_seconds() >= 9,
            "Retry-After never shortens the schedule"
        );
        assert_eq!(
            after(outcome(None, None), 2),
            Decision::Failed { pause_until: None },
            "out of retries"
        );
        assert_eq!(
            after(outcome(Some(302), None), 2),
            Decision::Failed { pause_until: None }
        );
        assert_eq!(Decision::EndpointGone.next().0, DeliveryStatus::Failed);
    }

    #[test]
    fn a_batch_notes_each_run_of_successes_once_and_every_failure() {
        let (a, b) = (
            EndpointId::from_uuid(Uuid::now_v7()),
            EndpointId::from_uuid(Uuid::now_v7()),
        );
        let finished: Vec<FinishedAttempt> = [a, a, a, a, b, b, b]
            .into_iter()
            .map(|endpoint_id| FinishedAttempt {
                attempt: Attempt {
                    id: Uuid::now_v7(),
                    delivery_id: DeliveryId::from_uuid(Uuid::now_v7()),
                    attempted_at: Utc::now(),
                    status_code: None,
                    latency_ms: 0,
                    error: None,
                    response_body: String::new(),
                },
                endpoint_id,
                lease_token: Uuid::now_v7(),
                next: (DeliveryStatus::Pending, None),
            })
            .collect();
        let failed = Decision::Failed { pause_until: None };
        let ok = Decision::Succeeded;
        let decisions = [ok, failed, ok, ok, ok, ok, ok];
        // The sixth one's delivery was gone: nothing of it is recorded.
        let recorded = [true, true, true, true, true, false, true];
        assert_eq!(
            applied_decisions(&finished, &decisions, &recorded),
            [true, true, true, false, true, false, false],
            "a success after a failure is noted again (the failing run ends); repeats are not"
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
