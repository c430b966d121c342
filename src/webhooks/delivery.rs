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
use ring::rand::{SecureRandom, SystemRandom};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use uuid::Uuid;

use super::http::{Deliverer, Outcome};
use crate::crypto::Protection;
use crate::domain::webhook::{Attempt, Delivery, RetrySchedule};
use crate::domain::{DeliveryId, EndpointId, Error};
use crate::storage::Database;
use crate::storage::webhook_deliveries::{self, DueDelivery, Next};
use crate::storage::webhook_endpoints;

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
}

/// Shared by the loop and its attempt tasks.
struct Context {
    db: Database,
    protection: Arc<Protection>,
    deliverer: Deliverer,
    settings: DeliverySettings,
    /// Per endpoint with a rate limit: when its next attempt may start.
    next_slot: Mutex<HashMap<Uuid, Instant>>,
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
    let mut in_flight: JoinSet<Uuid> = JoinSet::new();
    let mut per_endpoint: HashMap<Uuid, usize> = HashMap::new();
    while !*stop.borrow() {
        let room = context
            .settings
            .max_in_flight
            .saturating_sub(in_flight.len());
        if room > 0 {
            match claim(&context, room, &per_endpoint).await {
                Ok(claimed) => {
                    for due in claimed {
                        *per_endpoint.entry(due.endpoint_id).or_default() += 1;
                        let context = context.clone();
                        in_flight.spawn(async move {
                            let endpoint = due.endpoint_id;
                            attempt(&context, due).await;
                            endpoint
                        });
                    }
                }
                Err(error) => tracing::warn!(%error, "claiming due deliveries failed"),
            }
        }
        tokio::select! {
            _ = wake.notified() => {}
            Some(done) = in_flight.join_next() => finished(&mut per_endpoint, done),
            _ = tokio::time::sleep(context.settings.poll_interval) => {}
            _ = stop.changed() => {}
        }
    }
    while let Some(done) = in_flight.join_next().await {
        finished(&mut per_endpoint, done);
    }
    tracing::info!("webhook delivery stopped");
}

fn finished(per_endpoint: &mut HashMap<Uuid, usize>, done: Result<Uuid, tokio::task::JoinError>) {
    if let Ok(endpoint) = done
        && let Some(count) = per_endpoint.get_mut(&endpoint)
    {
        *count -= 1;
        if *count == 0 {
            per_endpoint.remove(&endpoint);
        }
    }
}

/// Claims up to `room` due deliveries, leaving out endpoints at their in-flight limit;
/// deliveries beyond an endpoint's limit are released again at once.
async fn claim(
    context: &Context,
    room: usize,
    per_endpoint: &HashMap<Uuid, usize>,
) -> Result<Vec<DueDelivery>, Error> {
    let limit = context.settings.max_in_flight_per_endpoint;
    let busy: Vec<Uuid> = per_endpoint
        .iter()
        .filter(|(_, n)| **n >= limit)
        .map(|(id, _)| *id)
        .collect();
    let lease = context.settings.lease;
    let claimed = context
        .db
        .run(move |conn| webhook_deliveries::claim_due(conn, room as i64, &busy, lease))
        .await?;
    let mut counts = per_endpoint.clone();
    let mut keep = Vec::with_capacity(claimed.len());
    let mut extra = Vec::new();
    for due in claimed {
        let count = counts.entry(due.endpoint_id).or_default();
        if *count < limit {
            *count += 1;
            keep.push(due);
        } else {
            extra.push(DeliveryId::from_uuid(due.id));
        }
    }
    if !extra.is_empty() {
        context
            .db
            .run(move |conn| {
                extra
                    .iter()
                    .try_for_each(|id| webhook_deliveries::release(conn, *id))
            })
            .await?;
    }
    Ok(keep)
}

/// One attempt of one delivery, and its record.
async fn attempt(context: &Context, due: DueDelivery) {
    let delivery = DeliveryId::from_uuid(due.id);
    let endpoint = EndpointId::from_uuid(due.endpoint_id);
    let protection = context.protection.clone();
    let secrets = match context
        .db
        .run(move |conn| webhook_endpoints::signing_secrets(conn, &protection, endpoint))
        .await
    {
        Ok(secrets) => secrets,
        Err(error) => {
            tracing::warn!(%error, %delivery, "cannot load the endpoint's secrets; the delivery stays due");
            let _ = context
                .db
                .run(move |conn| webhook_deliveries::release(conn, delivery))
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
                    due.traceparent.as_deref(),
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
        traceparent = due.traceparent.as_deref().unwrap_or(""),
        "webhook attempt"
    );
    let record = Attempt {
        id: Uuid::now_v7(),
        delivery_id: delivery,
        attempted_at,
        status_code: outcome.status,
        latency_ms: outcome.latency.as_millis() as i64,
        error: outcome.error.clone(),
        response_body: outcome.body_excerpt.clone(),
    };
    let disable_after = context.settings.disable_after;
    let gone = outcome.gone();
    let succeeded = outcome.succeeded();
    let stored = context
        .db
        .run(move |conn| {
            webhook_deliveries::finish_attempt(conn, &record, endpoint, next)?;
            if gone {
                webhook_endpoints::disable(conn, endpoint, "the endpoint answered 410 Gone")?;
                return Ok(true);
            }
            webhook_endpoints::note_outcome(conn, endpoint, succeeded, disable_after)
        })
        .await;
    match stored {
        Ok(true) => tracing::warn!(%endpoint, "endpoint disabled"),
        Ok(false) => {}
        Err(error) => {
            tracing::warn!(%error, %delivery, "recording the attempt failed; the lease will expire and it is retried")
        }
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

/// What follows an attempt: success; a retry after the schedule's next delay (or the
/// receiver's `Retry-After`); failure when out of retries or the endpoint is gone.
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
            let wait = outcome.retry_after.unwrap_or(delay);
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
        assert!((at - Utc::now()).num_seconds() >= 119, "Retry-After wins");
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
