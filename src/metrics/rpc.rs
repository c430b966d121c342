//! gRPC calls by service, method and status code, with their latency: a tower layer
//! around the whole server, so every service (health and reflection too) is counted the
//! same way and no handler has to remember to.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use tower_layer::Layer;
use tower_service::Service;

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

/// gRPC's UNIMPLEMENTED: the method does not exist.
const UNIMPLEMENTED: &str = "12";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    service: String,
    method: String,
    code: String,
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
            "gRPC calls completed, by service, method and status code (0 = OK)",
            handled.clone(),
        );
        registry.register(
            "grpc_server_handling_seconds",
            "Time from a call's arrival to its response, by service and method",
            seconds.clone(),
        );
        Self { handled, seconds }
    }

    fn observe(&self, path: &str, code: &str, elapsed: f64) {
        let (service, method) = match path.trim_start_matches('/').split_once('/') {
            Some((service, method))
                if KNOWN_SERVICES.contains(&service) && code != UNIMPLEMENTED =>
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
                code: code.to_owned(),
            })
            .inc();
    }
}

/// Records every call passing through the server.
#[derive(Clone)]
pub struct RecordRpcs(pub Arc<RpcMetrics>);

impl<S> Layer<S> for RecordRpcs {
    type Service = RecordedService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RecordedService {
            inner,
            metrics: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RecordedService<S> {
    inner: S,
    metrics: Arc<RpcMetrics>,
}

impl<S, B, R> Service<http::Request<B>> for RecordedService<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path().to_owned();
        let started = Instant::now();
        let metrics = self.metrics.clone();
        // The clone that was polled ready serves this call (tower's rule).
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        Box::pin(async move {
            let result = inner.call(request).await;
            if let Ok(response) = &result {
                // Errors come back "trailers-only": the status is in the headers. A
                // unary success puts it in the trailers, after this point: OK.
                let code = response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("0");
                metrics.observe(&path, code, started.elapsed().as_secs_f64());
            }
            result
        })
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
            "5",
            0.01,
        );
        rpcs.observe("/evil.Service/Anything", "12", 0.01);
        rpcs.observe(
            "/producerprofile.v1.ProducerProfileService/Nope",
            UNIMPLEMENTED,
            0.01,
        );
        let text = metrics.encode();
        assert!(text.contains(
            r#"producer_profile_grpc_server_handled_total{service="producerprofile.v1.ProducerProfileService",method="GetProducer",code="5"} 1"#
        ), "{text}");
        assert!(text.contains(
            r#"producer_profile_grpc_server_handled_total{service="unknown",method="unknown",code="12"} 2"#
        ), "{text}");
        assert!(!text.contains("evil") && !text.contains("Nope"));
    }
}
