//! The layer every gRPC call passes through: a span that continues the caller's trace
//! (`traceparent`) or starts one, with its `trace_id` on every log line of the call; and
//! the call's count and latency by status code.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use tower_layer::Layer;
use tower_service::Service;
use tracing::Instrument;

use super::trace_context::{continue_trace, trace_id_of, traceparent_of};
use crate::metrics::rpc::RpcMetrics;

/// Traces and counts every call of the server.
#[derive(Clone)]
pub struct ObserveCalls(pub Arc<RpcMetrics>);

impl<S> Layer<S> for ObserveCalls {
    type Service = ObservedService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ObservedService {
            inner,
            metrics: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct ObservedService<S> {
    inner: S,
    metrics: Arc<RpcMetrics>,
}

impl<S, B, R> Service<http::Request<B>> for ObservedService<S>
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
        let span = call_span(&path, &request);
        let started = Instant::now();
        let metrics = self.metrics.clone();
        // The clone that was polled ready serves this call (tower's rule).
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let call = async move {
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
        };
        Box::pin(call.instrument(span))
    }
}

/// The call's span, in the caller's trace when it sent a `traceparent`.
fn call_span<B>(path: &str, request: &http::Request<B>) -> tracing::Span {
    let span = tracing::info_span!("grpc", rpc = %path, trace_id = tracing::field::Empty);
    if let Some(traceparent) = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
    {
        continue_trace(&span, traceparent);
    }
    if let Some(ours) = traceparent_of(&span)
        && let Some(trace_id) = trace_id_of(&ours)
    {
        span.record("trace_id", trace_id);
    }
    span
}
