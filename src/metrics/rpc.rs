//! gRPC calls by service, method and status code, with their latency. Recorded by the
//! server's call layer (`telemetry::grpc::ObserveCalls`), so every service — health and
//! reflection too — is counted the same way and no handler has to remember to.

use std::collections::HashMap;
use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

use super::{Metrics, seconds_buckets};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    service: String,
    method: String,
    /// The status code's name, as gRPC dashboards expect: `Ok`, `NotFound`, …
    grpc_code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    service: String,
    method: String,
}

/// The RPC counters and latency histograms.
#[derive(Clone)]
pub struct RpcMetrics {
    handled: Family<CallLabels, Counter>,
    seconds: Family<MethodLabels, Histogram>,
    /// The labels of every method served, by request path (`/package.Service/Method`):
    /// calls to anything else count as `unknown`, so a scanner's made-up paths cannot
    /// create label values.
    known: Arc<HashMap<String, MethodLabels>>,
}

impl RpcMetrics {
    /// Registers the families, with a zero series for every one of `methods` (service,
    /// method): dashboards and `rate()` see every method from the first scrape.
    pub fn register(
        metrics: &mut Metrics,
        methods: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        let handled = Family::<CallLabels, Counter>::default();
        let seconds = Family::<MethodLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(seconds_buckets(0.001, 16))) as fn() -> Histogram,
        );
        let registry = metrics.registry();
        registry.register(
            "grpc_server_handled",
            "gRPC calls completed, by service, method and status code name",
            handled.clone(),
        );
        registry.register(
            "grpc_server_handling_seconds",
            "Time from a call's arrival to its response, by service and method",
            seconds.clone(),
        );
        let known: HashMap<String, MethodLabels> = methods
            .into_iter()
            .map(|(service, method)| {
                (
                    format!("/{service}/{method}"),
                    MethodLabels { service, method },
                )
            })
            .collect();
        for labels in known.values() {
            let _ = seconds.get_or_create(labels);
            let _ = handled.get_or_create(&CallLabels::new(labels.clone(), tonic::Code::Ok));
        }
        Self {
            handled,
            seconds,
            known: Arc::new(known),
        }
    }

    /// Counts a finished call: its path (`/package.Service/Method`), gRPC status code
    /// and duration in seconds.
    pub fn observe(&self, path: &str, code: tonic::Code, elapsed: f64) {
        let labels = match self.known.get(path) {
            Some(labels) if code != tonic::Code::Unimplemented => labels.clone(),
            _ => MethodLabels {
                service: "unknown".to_owned(),
                method: "unknown".to_owned(),
            },
        };
        self.seconds.get_or_create(&labels).observe(elapsed);
        self.handled
            .get_or_create(&CallLabels::new(labels, code))
            .inc();
    }
}

impl CallLabels {
    fn new(method: MethodLabels, code: tonic::Code) -> Self {
        Self {
            service: method.service,
            method: method.method,
            grpc_code: format!("{code:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_paths_and_methods_are_not_label_values() {
        let mut metrics = Metrics::default();
        let served = ("producerprofile.v1.ProducerProfileService", "GetProducer");
        let rpcs = RpcMetrics::register(&mut metrics, [(served.0.to_owned(), served.1.to_owned())]);
        let text = metrics.encode();
        assert!(text.contains(
            r#"producer_profile_grpc_server_handled_total{service="producerprofile.v1.ProducerProfileService",method="GetProducer",grpc_code="Ok"} 0"#
        ), "every method served has its series before its first call: {text}");
        rpcs.observe(
            "/producerprofile.v1.ProducerProfileService/GetProducer",
            tonic::Code::NotFound,
            0.01,
        );
        rpcs.observe("/evil.Service/Anything", tonic::Code::Unimplemented, 0.01);
        rpcs.observe(
            "/producerprofile.v1.ProducerProfileService/Nope",
            tonic::Code::Unimplemented,
            0.01,
        );
        let text = metrics.encode();
        assert!(text.contains(
            r#"producer_profile_grpc_server_handled_total{service="producerprofile.v1.ProducerProfileService",method="GetProducer",grpc_code="NotFound"} 1"#
        ), "{text}");
        assert!(text.contains(
            r#"producer_profile_grpc_server_handled_total{service="unknown",method="unknown",grpc_code="Unimplemented"} 2"#
        ), "{text}");
        assert!(!text.contains("evil") && !text.contains("Nope"));
    }
}
