//! grpc.health Check on our server — its whole stack of layers (call metrics, tracing,
//! timeouts, the limits) in front of tonic's health service — against a minimal tonic
//! server with the health service alone, started here from the same tonic version.

use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::Plan;
use crate::measure::{Comparison, drain};
use crate::support::TestServer;

pub const NAME: &str = "health";
const IN_FLIGHT: usize = 8;
const FULL_ROUND: usize = 10_000;

pub async fn run(plan: Plan) -> Comparison {
    let per_round = plan.per_round(FULL_ROUND);
    let server = TestServer::start().await;
    let ours = HealthClient::new(server.channel().await);
    let minimal = HealthClient::new(minimal_health_server().await);
    let checks = |client: &HealthClient<Channel>, count: usize| {
        let client = client.clone();
        drain(IN_FLIGHT, vec![(); count], move |()| {
            let mut client = client.clone();
            async move {
                client
                    .check(HealthCheckRequest::default())
                    .await
                    .expect("Check");
            }
        })
    };
    let warm_up = plan.per_round(FULL_ROUND / 10);
    checks(&ours, warm_up).await;
    checks(&minimal, warm_up).await;
    Comparison::new(
        NAME,
        "checks",
        per_round,
        "a minimal tonic server with the health service alone",
    )
    .measure(
        plan.rounds,
        |_| checks(&ours, per_round),
        |_| checks(&minimal, per_round),
    )
    .await
}

/// tonic's health service alone, serving, on a loopback port; a channel to it.
async fn minimal_health_server() -> Channel {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("a channel to the minimal server")
}
