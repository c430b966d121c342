//! W3C trace context (`traceparent`) in and out of spans: read from a gRPC request,
//! stored with each event, sent to Kafka and with each webhook, and picked up again by
//! the dispatcher, so one trace id follows a change from the call to the partner.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

const TRACEPARENT: &str = "traceparent";

/// Makes `span` a child of the remote span `traceparent` names; an invalid value is
/// ignored (the span starts a trace of its own).
pub fn continue_trace(span: &Span, traceparent: &str) {
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    let parent = TraceContextPropagator::new().extract(&carrier);
    if parent.span().span_context().is_valid() {
        // Fails only when no OpenTelemetry layer is installed: then there is no trace.
        let _ = span.set_parent(parent);
    }
}

/// The `traceparent` naming `span`, when tracing knows it (an OpenTelemetry layer is
/// installed).
pub fn traceparent_of(span: &Span) -> Option<String> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// The current span's `traceparent`.
pub fn current_traceparent() -> Option<String> {
    traceparent_of(&Span::current())
}

/// The span's trace id (32 hex digits), for logs — read from its context, without
/// formatting a whole `traceparent`.
pub fn trace_id(span: &Span) -> Option<String> {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// The trace id (32 hex digits) in a `traceparent`, for logs.
pub fn trace_id_of(traceparent: &str) -> Option<&str> {
    traceparent.split('-').nth(1).filter(|id| id.len() == 32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt;

    const REMOTE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn with_spans(test: impl FnOnce()) {
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, test);
    }

    #[test]
    fn a_span_continues_the_callers_trace_and_names_itself_as_the_parent() {
        with_spans(|| {
            let span = tracing::info_span!("request");
            continue_trace(&span, REMOTE);
            let ours = traceparent_of(&span).expect("a span context");
            assert_eq!(trace_id_of(&ours), trace_id_of(REMOTE), "same trace");
            assert_ne!(ours, REMOTE, "our own span id");
            let child = span.in_scope(|| {
                let child = tracing::info_span!("handler");
                child
                    .in_scope(current_traceparent)
                    .expect("a child context")
            });
            assert_eq!(trace_id_of(&child), trace_id_of(REMOTE));
            assert_ne!(child, ours);
        });
    }

    #[test]
    fn a_span_without_a_caller_starts_a_trace_and_garbage_is_ignored() {
        with_spans(|| {
            let span = tracing::info_span!("request");
            continue_trace(&span, "00-not-a-trace-01");
            let ours = traceparent_of(&span).expect("a trace of its own");
            assert_eq!(trace_id_of(&ours).map(str::len), Some(32));
            assert_ne!(trace_id_of(&ours), trace_id_of(REMOTE));
        });
    }

    #[test]
    fn without_tracing_there_is_no_traceparent() {
        let span = tracing::info_span!("request");
        assert_eq!(traceparent_of(&span), None);
    }
}
