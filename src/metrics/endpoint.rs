//! The metrics port: `GET /metrics` (OpenMetrics text), `GET /healthz` (the process
//! answers) and `GET /readyz` (it can do its work: 200, else 503). Plain HTTP/1.1.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::Metrics;

/// Whether the binary is ready for work (the database answers, …).
pub type Readiness = Arc<dyn Fn() -> bool + Send + Sync>;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The metrics port could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {0}: {1}")]
pub struct BindError(SocketAddr, #[source] std::io::Error);

/// Binds `addr`; an address in use or not allowed is a start-up error naming it.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| BindError(addr, e))
}

/// Answers scrapes and probes on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, ready: Readiness) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "metrics port: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let metrics = metrics.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let response = respond(request.method(), request.uri().path(), &metrics, &ready);
                async move { Ok::<_, Infallible>(response) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = connection.await {
                tracing::debug!(%error, "metrics port: connection ended with an error");
            }
        });
    }
}

fn respond(
    method: &Method,
    path: &str,
    metrics: &Metrics,
    ready: &Readiness,
) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (method, path) {
        (&Method::GET, "/metrics") => (StatusCode::OK, OPENMETRICS, metrics.encode()),
        (&Method::GET, "/healthz") => (StatusCode::OK, "text/plain", "ok\n".into()),
        (&Method::GET, "/readyz") if ready() => (StatusCode::OK, "text/plain", "ready\n".into()),
        (&Method::GET, "/readyz") => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "not ready\n".into(),
        ),
        _ => (StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}
