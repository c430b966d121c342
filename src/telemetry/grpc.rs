//! A span around every gRPC call, continuing the caller's trace (`traceparent`) or
//! starting one, and carrying its `trace_id` so every log line of the call has it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;
use tracing::Instrument;

use super::trace_context::{continue_trace, trace_id_of, traceparent_of};

/// Wraps every call of the server in a `grpc` span.
#[derive(Clone, Copy, Default)]
pub struct TraceRequests;

impl<S> Layer<S> for TraceRequests {
    type Service = TracedService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TracedService { inner }
    }
}

#[derive(Clone)]
pub struct TracedService<S> {
    inner: S,
}

impl<S, B, R> Service<http::Request<B>> for TracedService<S>
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
        let span = tracing::info_span!(
            "grpc",
            rpc = %request.uri().path(),
            trace_id = tracing::field::Empty,
        );
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
        // The clone that was polled ready serves this call (tower's rule).
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        Box::pin(async move { inner.call(request).await }.instrument(span))
    }
}
