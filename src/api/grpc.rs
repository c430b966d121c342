//! The gRPC server: the three services behind the authentication interceptor, health,
//! reflection, and the limits of what one caller or connection can make it hold. The
//! server's composition root (`crate::server`) hands it its parts and a listener; every
//! tonic server type stays in here.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::Router;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower_layer::{Identity, Stack};

use super::authn::Authenticate;
use super::event_feed::{EventFeedApi, WithOldFeedAddress};
use super::producer_service::ProducerProfileApi;
use super::webhook_service::WebhookApi;
use crate::auth::TokenVerifier;
use crate::config::{GrpcConfig, WebhooksConfig};
use crate::crypto::Protection;
use crate::domain::event::EventEncoder;
use crate::metrics::rpc::RpcMetrics;
use crate::proto;
use crate::proto::events::event_service_server::EventServiceServer;
use crate::proto::v1::producer_profile_service_server::ProducerProfileServiceServer;
use crate::proto::v1::webhook_service_server::WebhookServiceServer;
use crate::storage::Database;
use crate::telemetry::grpc::ObserveCalls;
use crate::webhooks::http::Deliverer;

/// The gRPC name of the producer service, as health checks ask for it.
pub const PRODUCER_SERVICE: &str = "producerprofile.v1.ProducerProfileService";
/// The gRPC name of the event feed, as health checks ask for it.
pub const FEED_SERVICE: &str = "producerprofile.events.v1.EventService";
/// The health entry of the event relay: NOT_SERVING while it cannot publish (the broker
/// or the database is away). The API keeps serving meanwhile; events wait in the log.
pub const EVENT_RELAY: &str = "producerprofile.v1.EventRelay";

/// What the services are built from.
pub struct Parts {
    /// The store.
    pub db: Database,
    /// The keys for sensitive fields.
    pub protection: Arc<Protection>,
    /// Checks every call's bearer token.
    pub verifier: Arc<TokenVerifier>,
    /// Turns each write's events into the event log's bytes.
    pub encoder: Arc<dyn EventEncoder>,
    /// Sends the verification request of a new webhook endpoint.
    pub verifying_client: Deliverer,
    /// Webhook settings (limits, address policy).
    pub webhooks: WebhooksConfig,
    /// Call counts and latencies, by method.
    pub rpc_metrics: Arc<RpcMetrics>,
}

/// The gRPC health service's statuses, as the server reports them.
#[derive(Clone)]
pub struct Health(HealthReporter);

impl Health {
    /// Whether the API answers: the overall entry, the producer service and the feed.
    pub async fn set_api(&self, serving: bool) {
        for service in ["", PRODUCER_SERVICE, FEED_SERVICE] {
            self.0.set_service_status(service, status(serving)).await;
        }
    }

    /// Whether the event relay publishes.
    pub async fn set_relay(&self, serving: bool) {
        self.0
            .set_service_status(EVENT_RELAY, status(serving))
            .await;
    }
}

fn status(serving: bool) -> ServingStatus {
    if serving {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}

/// The server, built and not yet serving: its health entries can be set meanwhile.
pub struct Server {
    health: Health,
    router: Router<Stack<ObserveCalls, Identity>>,
}

impl Server {
    /// Every service, with the limits of `grpc`; NOT_SERVING until told otherwise.
    pub async fn new(grpc: &GrpcConfig, parts: Parts) -> Self {
        let (reporter, health_service) = tonic_health::server::health_reporter();
        let health = Health(reporter);
        health.set_api(false).await;
        // Both reflection versions: grpcurl 1.8 and older clients only speak v1alpha.
        let reflection_v1 = reflection()
            .build_v1()
            .expect("descriptors compiled by build.rs are valid");
        let reflection_v1alpha = reflection()
            .build_v1alpha()
            .expect("descriptors compiled by build.rs are valid");
        let limit = grpc.max_message_bytes;
        let authenticate = Authenticate::new(parts.verifier);
        let webhooks = InterceptedService::new(
            WebhookServiceServer::new(WebhookApi::new(
                parts.db.clone(),
                parts.protection.clone(),
                parts.verifying_client,
                parts.webhooks,
            ))
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit),
            authenticate.clone(),
        );
        let feed = InterceptedService::new(
            EventServiceServer::new(EventFeedApi::new(parts.db.clone(), &parts.protection))
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit),
            authenticate.clone(),
        );
        let producers = WithOldFeedAddress {
            producers: InterceptedService::new(
                ProducerProfileServiceServer::new(ProducerProfileApi::new(
                    parts.db,
                    parts.protection,
                    parts.encoder,
                ))
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit),
                authenticate,
            ),
            feed: feed.clone(),
        };
        let router = builder(grpc)
            .layer(ObserveCalls(parts.rpc_metrics))
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(producers)
            .add_service(feed)
            .add_service(webhooks);
        Self { health, router }
    }

    /// The health entries.
    pub fn health(&self) -> Health {
        self.health.clone()
    }

    /// Serves on `listener` until `stop` resolves, then lets in-flight calls finish.
    pub async fn serve(
        self,
        listener: TcpListener,
        stop: impl Future<Output = ()>,
    ) -> Result<(), tonic::transport::Error> {
        self.router
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), stop)
            .await
    }
}

/// The server with its limits: what one caller or connection can make it hold.
fn builder(grpc: &GrpcConfig) -> tonic::transport::Server {
    let builder = tonic::transport::Server::builder()
        .timeout(Duration::from_millis(grpc.request_timeout_ms))
        .max_concurrent_streams(grpc.max_concurrent_streams)
        .http2_keepalive_interval(Some(Duration::from_secs(grpc.keepalive_interval_secs)))
        .http2_keepalive_timeout(Some(Duration::from_secs(grpc.keepalive_timeout_secs)));
    match grpc.max_connection_age_secs {
        0 => builder,
        age => builder
            .max_connection_age(Duration::from_secs(age))
            // Calls in flight on an aged connection get as long as any call may take.
            .max_connection_age_grace(Duration::from_millis(grpc.request_timeout_ms)),
    }
}

/// What reflection describes: this API, the health service, and `google.rpc`'s error
/// details (so grpcurl can decode the `BadRequest` of an INVALID_ARGUMENT answer).
const REFLECTED: [&[u8]; 3] = [
    proto::FILE_DESCRIPTOR_SET,
    tonic_health::pb::FILE_DESCRIPTOR_SET,
    tonic_types::pb::FILE_DESCRIPTOR_SET,
];

/// Server reflection over [`REFLECTED`] (reflection describes itself too).
fn reflection() -> tonic_reflection::server::Builder<'static> {
    REFLECTED.iter().fold(
        tonic_reflection::server::Builder::configure(),
        |builder, set| builder.register_encoded_file_descriptor_set(set),
    )
}

/// Every (service, method) this server answers: the reflected services and reflection
/// itself, read from their descriptors, and ListEvents at its old address.
pub fn served_methods() -> Vec<(String, String)> {
    use prost::Message;
    let reflection_sets = [
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    ];
    let mut methods = vec![(PRODUCER_SERVICE.to_owned(), "ListEvents".to_owned())];
    for encoded in REFLECTED.iter().chain(&reflection_sets) {
        let set = prost_types::FileDescriptorSet::decode(*encoded)
            .expect("descriptor sets compiled into the binary decode");
        for file in set.file {
            for service in &file.service {
                let name = format!("{}.{}", file.package(), service.name());
                for method in &service.method {
                    methods.push((name.clone(), method.name().to_owned()));
                }
            }
        }
    }
    methods
}
