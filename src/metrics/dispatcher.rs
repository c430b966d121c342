//! The webhook dispatcher: how far its consumer lags behind the topic, the deliveries it
//! records, its attempts by outcome and their latency, endpoints it disabled, and the
//! pending work in Postgres (shared by every replica).

use std::sync::atomic::AtomicU64;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use super::{Metrics, seconds_buckets};
use crate::domain::webhook::{Decision, DisableReason};

/// The `outcome` label of an attempt: what its [`Decision`] did to the delivery.
#[derive(Clone, Copy)]
enum AttemptOutcome {
    Succeeded,
    /// Another attempt is scheduled.
    Retried,
    /// Failed for good (out of retries, 410).
    Failed,
}

impl AttemptOutcome {
    const ALL: [AttemptOutcome; 3] = [Self::Succeeded, Self::Retried, Self::Failed];

    fn of(decision: &Decision) -> Self {
        match decision {
            Decision::Succeeded => Self::Succeeded,
            Decision::Retry { .. } => Self::Retried,
            Decision::Failed { .. } | Decision::EndpointGone => Self::Failed,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Retried => "retried",
            Self::Failed => "failed",
        }
    }
}

/// The `reason` label of a disablement.
fn reason_label(reason: DisableReason) -> &'static str {
    match reason {
        DisableReason::Gone => "gone",
        DisableReason::Failing => "failing",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// The webhook dispatcher's metrics; cheap to clone (every clone counts into the same
/// series).
#[derive(Clone)]
pub struct DispatcherMetrics {
    attempts: Family<OutcomeLabels, Counter>,
    attempt_seconds: Family<OutcomeLabels, Histogram>,
    endpoints_disabled: Family<ReasonLabels, Counter>,
    deliveries_recorded: Counter,
    intake_leader: Gauge,
    consumer_lag: Gauge,
    pending: Gauge,
    oldest_due_age: Gauge<f64, AtomicU64>,
    disabled_endpoints: Gauge,
}

impl Default for DispatcherMetrics {
    /// Unregistered: records into nothing anyone reads.
    fn default() -> Self {
        Self {
            attempts: Family::default(),
            attempt_seconds: Family::new_with_constructor(
                (|| Histogram::new(seconds_buckets(0.005, 13))) as fn() -> Histogram,
            ),
            endpoints_disabled: Family::default(),
            deliveries_recorded: Counter::default(),
            intake_leader: Gauge::default(),
            consumer_lag: Gauge::default(),
            pending: Gauge::default(),
            oldest_due_age: Gauge::default(),
            disabled_endpoints: Gauge::default(),
        }
    }
}

impl DispatcherMetrics {
    /// Registers every series in `metrics`, each label value at zero from the first
    /// scrape.
    pub fn register(metrics: &mut Metrics) -> Self {
        let this = Self::default();
        let registry = metrics.registry();
        registry.register(
            "webhook_attempts",
            "Webhook attempts by outcome (succeeded, retried, failed)",
            this.attempts.clone(),
        );
        registry.register(
            "webhook_attempt_seconds",
            "Time from sending a webhook to its answer (or failure), by outcome",
            this.attempt_seconds.clone(),
        );
        registry.register(
            "webhook_endpoint_disablements",
            "Endpoints this dispatcher disabled, by reason (gone = 410, failing = failure limit)",
            this.endpoints_disabled.clone(),
        );
        registry.register(
            "webhook_deliveries_recorded",
            "Deliveries recorded from the events topic (one per event and subscribed endpoint)",
            this.deliveries_recorded.clone(),
        );
        registry.register(
            "webhook_intake_leader",
            "1 on the dispatcher that reads the events topic, 0 on the others",
            this.intake_leader.clone(),
        );
        registry.register(
            "webhook_consumer_lag_events",
            "Events in the topic after the recorded positions (measured by the intake leader)",
            this.consumer_lag.clone(),
        );
        registry.register(
            "webhook_deliveries_pending",
            "Deliveries waiting for their first or next attempt (all replicas)",
            this.pending.clone(),
        );
        registry.register(
            "webhook_oldest_due_delivery_age_seconds",
            "How long the longest-waiting delivery a dispatcher could send now has been due \
             (0 when none): waits for partners (a pause, a retry, an earlier event) do not count",
            this.oldest_due_age.clone(),
        );
        registry.register(
            "webhook_endpoints_disabled",
            "Endpoints currently disabled (all accounts)",
            this.disabled_endpoints.clone(),
        );
        // Every label value exists from the first scrape, at zero: a family without
        // series is not exposed at all, and `rate()` over a series that appears only
        // with its first increment misses that increment.
        for outcome in AttemptOutcome::ALL {
            let labels = OutcomeLabels {
                outcome: outcome.label(),
            };
            let _ = this.attempts.get_or_create(&labels);
            let _ = this.attempt_seconds.get_or_create(&labels);
        }
        for reason in DisableReason::ALL {
            let _ = this.endpoints_disabled.get_or_create(&ReasonLabels {
                reason: reason_label(reason),
            });
        }
        this
    }

    /// Counts an attempt by what it was decided to mean, with its latency.
    pub fn attempt(&self, decision: &Decision, seconds: f64) {
        let labels = OutcomeLabels {
            outcome: AttemptOutcome::of(decision).label(),
        };
        self.attempts.get_or_create(&labels).inc();
        self.attempt_seconds.get_or_create(&labels).observe(seconds);
    }

    /// Counts an endpoint this dispatcher disabled, by reason.
    pub fn endpoint_disabled(&self, reason: DisableReason) {
        self.endpoints_disabled
            .get_or_create(&ReasonLabels {
                reason: reason_label(reason),
            })
            .inc();
    }

    /// Counts deliveries recorded from the events topic.
    pub fn recorded(&self, deliveries: usize) {
        self.deliveries_recorded.inc_by(deliveries as u64);
    }

    /// Sets whether this dispatcher is the one reading the topic; one that stops leading
    /// reports a lag of 0.
    pub fn intake_leader(&self, leading: bool) {
        self.intake_leader.set(i64::from(leading));
        if !leading {
            self.consumer_lag.set(0);
        }
    }

    /// Sets the lag: events in the topic after the recorded positions, as the intake
    /// leader measured them.
    pub fn consumer_lag(&self, events: i64) {
        self.consumer_lag.set(events);
    }

    /// The pending work as Postgres has it.
    pub fn backlog(&self, pending: i64, oldest_due: Option<DateTime<Utc>>, disabled: i64) {
        self.pending.set(pending);
        let age = oldest_due.map_or(0.0, super::seconds_since);
        self.oldest_due_age.set(age);
        self.disabled_endpoints.set(disabled);
    }
}
