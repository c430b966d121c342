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

use super::trace_context::{continue_trace, trace_id};
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

/// A service wrapped by [`ObserveCalls`]: each call runs in its span and is counted when
/// it ends.
#[derive(Clone)]
pub struct ObservedService<S> {
    inner: S,
    metrics: Arc<RpcMetrics>,
}

impl<S, B, R> Service<http::Request<B>> for ObservedService<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
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
        let outcome = CallOutcome {
            metrics: self.metrics.clone(),
            path,
            started: Instant::now(),
            code: None,
        };
        let response = span.in_scope(|| self.inner.call(request));
        let call = async move {
            // Moved in whole: it counts the call when this future ends or is dropped.
            let mut outcome = outcome;
            let result = response.await;
            if let Ok(response) = &result {
                // Errors come back "trailers-only": the status is in the headers. A
                // unary success puts it in the trailers, after this point: OK.
                let code = response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i32>().ok())
                    .unwrap_or(0);
                outcome.code = Some(tonic::Code::from(code));
            }
            result
        };
        Box::pin(call.instrument(span))
    }
}

/// Counts the call when it ends — also when it never answers: the server's timeout or
/// the caller's cancellation drops it, and it counts as CANCELLED (what the caller sees).
struct CallOutcome {
    metrics: Arc<RpcMetrics>,
    path: String,
    started: Instant,
    code: Option<tonic::Code>,
}

impl Drop for CallOutcome {
    fn drop(&mut self) {
        let code = self.code.unwrap_or(tonic::Code::Cancelled);
        self.metrics
            .observe(&self.path, code, self.started.elapsed().as_secs_f64());
    }
}

/// Health probes arrive every few seconds from every kubelet: counted, not traced.
const UNTRACED: &str = "/grpc.health.v1.Health/";

/// The call's span, in the caller's trace when it sent a `traceparent`.
fn call_span<B>(path: &str, request: &http::Request<B>) -> tracing::Span {
    if path.starts_with(UNTRACED) {
        return tracing::Span::none();
    }
    let span = tracing::info_span!("grpc", rpc = %path, trace_id = tracing::field::Empty);
    if let Some(traceparent) = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
    {
        continue_trace(&span, traceparent);
    }
    if let Some(trace_id) = trace_id(&span) {
        span.record("trace_id", trace_id);
    }
    span
}
