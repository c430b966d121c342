//! The outbox relay: its backlog, how old the oldest waiting event is, what it
//! published and how long events waited between their commit and the broker's ack.
//! Only the replica that publishes measures the backlog; the others report 0 and
//! `event_relay_leader` 0 (aggregate with `max`).

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use std::sync::atomic::AtomicU64;

use super::{Metrics, seconds_buckets};

/// What the relay is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayState {
    /// Not yet connected or elected.
    Starting,
    /// Another replica publishes; this one waits to take over.
    Standby,
    /// Publishing (or idle with nothing to publish).
    Publishing,
    /// The broker did not acknowledge the last batch; it will be retried.
    BrokerUnavailable,
    /// The database cannot be reached.
    DatabaseUnavailable,
}

/// The relay's state and backlog, shared with health reporting and metrics. (Defined
/// here, beside the gauges read from it, so metrics imports nothing of the relay.)
#[derive(Debug, Clone)]
pub struct RelayReport {
    /// What the relay is doing now.
    pub state: RelayState,
    /// Events not yet published.
    pub backlog: i64,
    /// When the oldest unpublished event happened.
    pub oldest_unpublished: Option<DateTime<Utc>>,
    /// Events this relay published since it started.
    pub published: u64,
    /// Why the relay last failed, while it is not back to normal.
    pub last_error: Option<String>,
}

/// The relay's latest [`RelayReport`], written by the relay and read by the health
/// service, logs and metrics.
#[derive(Debug)]
pub struct RelayStatus(Mutex<RelayReport>);

impl Default for RelayStatus {
    fn default() -> Self {
        Self(Mutex::new(RelayReport {
            state: RelayState::Starting,
            backlog: 0,
            oldest_unpublished: None,
            published: 0,
            last_error: None,
        }))
    }
}

impl RelayStatus {
    /// A copy of the current report.
    pub fn report(&self) -> RelayReport {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn update(&self, change: impl FnOnce(&mut RelayReport)) {
        change(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }

    pub(crate) fn set_state(&self, state: RelayState, error: Option<String>) {
        self.update(|report| {
            report.state = state;
            report.last_error = error;
        });
    }

    /// Whether the relay is doing its job (publishing or standing by).
    pub fn is_healthy(&self) -> bool {
        matches!(
            self.report().state,
            RelayState::Starting | RelayState::Standby | RelayState::Publishing
        )
    }
}

/// What the relay records as it publishes.
#[derive(Clone)]
pub struct RelayMetrics {
    published: Counter,
    publish_delay: Histogram,
}

impl Default for RelayMetrics {
    /// Unregistered: records into nothing anyone reads.
    fn default() -> Self {
        Self {
            published: Counter::default(),
            publish_delay: Histogram::new(seconds_buckets(0.005, 16)),
        }
    }
}

impl RelayMetrics {
    /// Registers the relay's metrics; the gauges are read from `status` at each scrape.
    pub fn register(metrics: &mut Metrics, status: Arc<RelayStatus>) -> Self {
        let relay = Self::default();
        let backlog = Gauge::<i64>::default();
        let oldest_age = Gauge::<f64, AtomicU64>::default();
        let leader = Gauge::<i64>::default();
        let registry = metrics.registry();
        registry.register(
            "events_published",
            "Events this replica's relay published to Kafka",
            relay.published.clone(),
        );
        registry.register(
            "event_publish_delay_seconds",
            "Time from an event's commit to the broker's acknowledgement",
            relay.publish_delay.clone(),
        );
        registry.register(
            "outbox_backlog_events",
            "Committed events not yet published (measured by the publishing replica)",
            backlog.clone(),
        );
        registry.register(
            "outbox_oldest_unpublished_age_seconds",
            "Age of the oldest committed event not yet published (0 when none)",
            oldest_age.clone(),
        );
        registry.register(
            "event_relay_leader",
            "1 on the replica whose relay publishes, 0 on the others",
            leader.clone(),
        );
        metrics.refresh_with(move || {
            let report = status.report();
            backlog.set(report.backlog);
            let age = report.oldest_unpublished.map_or(0.0, super::seconds_since);
            oldest_age.set(age);
            let leading = matches!(
                report.state,
                RelayState::Publishing | RelayState::BrokerUnavailable
            );
            leader.set(i64::from(leading));
        });
        relay
    }

    /// Counts acknowledged events and how long each waited since it was committed.
    pub fn published(&self, committed_at: impl IntoIterator<Item = DateTime<Utc>>) {
        for at in committed_at {
            self.published.inc();
            self.publish_delay.observe(super::seconds_since(at));
        }
    }
}
