//! gRPC calls by service, method and status code, with their latency. Recorded by the
//! server's call layer (`telemetry::grpc::ObserveCalls`), so every service — health and
//! reflection too — is counted the same way and no handler has to remember to.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

use super::{Metrics, seconds_buckets};

/// The services this server implements; calls to anything else count as `unknown`, so
/// a scanner's made-up paths cannot create label values.
const KNOWN_SERVICES: [&str; 5] = [
    "producerprofile.v1.ProducerProfileService",
    "producerprofile.v1.WebhookService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

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
}

impl RpcMetrics {
    pub fn register(metrics: &mut Metrics) -> Self {
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
        Self { handled, seconds }
    }

    /// Counts a finished call: its path (`/package.Service/Method`), gRPC status code
    /// and duration in seconds.
    pub fn observe(&self, path: &str, code: tonic::Code, elapsed: f64) {
        let (service, method) = match path.trim_start_matches('/').split_once('/') {
            Some((service, method))
                if KNOWN_SERVICES.contains(&service) && code != tonic::Code::Unimplemented =>
            {
                (service.to_owned(), method.to_owned())
            }
            _ => ("unknown".to_owned(), "unknown".to_owned()),
        };
        self.seconds
            .get_or_create(&MethodLabels {
                service: service.clone(),
                method: method.clone(),
            })
            .observe(elapsed);
        self.handled
            .get_or_create(&CallLabels {
                service,
                method,
                grpc_code: format!("{code:?}"),
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_paths_and_methods_are_not_label_values() {
        let mut metrics = Metrics::default();
        let rpcs = RpcMetrics::register(&mut metrics);
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
