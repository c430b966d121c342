//! Prometheus metrics. Each binary registers its own set and serves it — with liveness
//! and readiness — on a port of its own (`metrics.serve_addr`, `metrics.dispatcher_addr`),
//! so scraping never competes with the gRPC port and needs no token.
//!
//! Every name starts with `producer_profile_`. Label values are bounded: this API's
//! method names, status codes, outcomes. Never ids, URLs or anything a caller chooses.

pub mod dispatcher;
pub mod endpoint;
pub mod relay;
pub mod rpc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::storage::Database;

/// A registry plus the gauges it reads from elsewhere just before each scrape.
pub struct Metrics {
    registry: Registry,
    refreshers: Vec<Box<dyn Fn() + Send + Sync>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            registry: Registry::with_prefix("producer_profile"),
            refreshers: Vec::new(),
        }
    }
}

impl Metrics {
    /// The registry to add series to; names get the `producer_profile_` prefix.
    pub fn registry(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// Runs `refresh` before every scrape: for values that live elsewhere (pool state,
    /// the relay's backlog) and are cheap to read.
    pub fn refresh_with(&mut self, refresh: impl Fn() + Send + Sync + 'static) {
        self.refreshers.push(Box::new(refresh));
    }

    /// The current values in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        for refresh in &self.refreshers {
            refresh();
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }

    /// The database pool's connections, idle and in use, and its size.
    pub fn register_pool(&mut self, db: &Database) {
        let connections = Family::<PoolLabels, Gauge>::default();
        let max = Gauge::<i64>::default();
        self.registry.register(
            "database_connections",
            "Open database connections of the request pool, by state",
            connections.clone(),
        );
        self.registry.register(
            "database_connections_max",
            "Size of the request pool",
            max.clone(),
        );
        let db = db.clone();
        self.refresh_with(move || {
            let state = db.pool_state();
            let idle = i64::from(state.idle);
            connections
                .get_or_create(&PoolLabels { state: "idle" })
                .set(idle);
            connections
                .get_or_create(&PoolLabels { state: "in_use" })
                .set(i64::from(state.connections) - idle);
            max.set(i64::from(state.max));
        });
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

/// Buckets doubling from `start` seconds, `count` of them.
pub fn seconds_buckets(start: f64, count: u16) -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(start, 2.0, count)
}

/// Seconds from `at` until now (0 for a time in the future), for age gauges.
fn seconds_since(at: chrono::DateTime<chrono::Utc>) -> f64 {
    (chrono::Utc::now() - at).num_milliseconds().max(0) as f64 / 1000.0
}
