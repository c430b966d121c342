//! The real server, in-process on an ephemeral port, against a test database.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use producer_profile::config::Config;
use producer_profile::proto::events::event_service_client::EventServiceClient;
use producer_profile::proto::v1::producer_profile_service_client::ProducerProfileServiceClient;
use producer_profile::proto::v1::webhook_service_client::WebhookServiceClient;
use producer_profile::server::{self, ServeError};

use super::database::TestDb;
use super::keys::{self, AUDIENCE, ISSUER};

/// Adds `authorization: Bearer …` to every call (or nothing, for unauthenticated tests).
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

pub type Client = ProducerProfileServiceClient<InterceptedService<Channel, Bearer>>;
pub type FeedClient = EventServiceClient<InterceptedService<Channel, Bearer>>;
pub type WebhookClient = WebhookServiceClient<InterceptedService<Channel, Bearer>>;

fn random_key() -> String {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).unwrap();
    STANDARD.encode(bytes)
}

/// Settings for a test server on `database_url`, trusting the test issuer.
pub fn test_config(database_url: &str) -> Config {
    let mut config = Config::default();
    config.database.url = SecretString::from(database_url);
    config.database.pool_max_size = 4;
    config.database.connect_timeout_ms = 2_000;
    config.database.health_interval_ms = 100;
    config.auth.jwks = Some(keys::issuer().jwks_path.display().to_string());
    config.auth.issuer = ISSUER.into();
    config.auth.audience = AUDIENCE.into();
    config.encryption.active_key_id = "test-1".into();
    config.encryption.keys = SecretString::from(format!("test-1:{}", random_key()));
    config.encryption.blind_index_key = SecretString::from(random_key());
    config.shutdown_grace_secs = 10;
    // A topic of its own: tests share the broker, never each other's events.
    config.kafka.brokers = super::kafka::brokers();
    config.kafka.topic = format!("pp-test-{}", uuid::Uuid::now_v7().simple());
    config.kafka.message_timeout_ms = 3_000;
    // tansu cannot fetch from inside a batch: a dispatcher resuming there would wait.
    config.kafka.single_record_batches = true;
    config.events.poll_interval_ms = 200;
    // Many servers run in one test process: each metrics port is any free one.
    config.metrics.serve_addr = "127.0.0.1:0".parse().unwrap();
    config.metrics.dispatcher_addr = "127.0.0.1:0".parse().unwrap();
    // Webhooks to the loopback receiver, with a short schedule.
    config.webhooks.allow_private_targets = true;
    config.webhooks.retry_schedule = "300ms,600ms,900ms".into();
    config.webhooks.retry_jitter = 0.0;
    config.webhooks.poll_interval_ms = 100;
    config.webhooks.delivery_timeout_ms = 3_000;
    config.webhooks.verification_timeout_ms = 2_000;
    config
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub db: Arc<TestDb>,
    pub config: Config,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServeError>>>,
}

impl TestServer {
    /// A serving server on a fresh, migrated database.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Like [`TestServer::start`], with settings adjusted first.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let db = Arc::new(TestDb::migrated());
        let mut config = test_config(&db.url);
        adjust(&mut config);
        let server = Self::launch(db, config).await;
        server.wait_for_health(ServingStatus::Serving).await;
        server
    }

    /// Starts the server without waiting for it to report SERVING.
    pub async fn launch(db: Arc<TestDb>, config: Config) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::run(config.clone(), listener, async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            db,
            config,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .expect("connect to the test server")
    }

    /// A client sending `token` as its bearer token.
    pub async fn client(&self, token: &str) -> Client {
        let value = format!("Bearer {token}").parse().expect("ASCII token");
        ProducerProfileServiceClient::with_interceptor(self.channel().await, Bearer(Some(value)))
    }

    /// A WebhookService client for `account` holding `scope`.
    pub async fn webhook_client(&self, account: &str, scope: &str) -> WebhookClient {
        let value = format!("Bearer {}", keys::token(account, scope))
            .parse()
            .expect("ASCII token");
        WebhookServiceClient::with_interceptor(self.channel().await, Bearer(Some(value)))
    }

    /// An EventService (ListEvents) client for `account` holding `scope`.
    pub async fn feed_client(&self, account: &str, scope: &str) -> FeedClient {
        let value = format!("Bearer {}", keys::token(account, scope))
            .parse()
            .expect("ASCII token");
        EventServiceClient::with_interceptor(self.channel().await, Bearer(Some(value)))
    }

    /// A client that sends no credentials.
    pub async fn anonymous_client(&self) -> Client {
        ProducerProfileServiceClient::with_interceptor(self.channel().await, Bearer(None))
    }

    /// A client for `account` holding `scope`.
    pub async fn client_for(&self, account: &str, scope: &str) -> Client {
        self.client(&keys::token(account, scope)).await
    }

    /// Waits (up to 20 s) until the health of `service` is `status`.
    pub async fn wait_for_health_of(&self, service: &str, status: ServingStatus) {
        for _ in 0..200 {
            if self.health(service).await == status {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{service} did not report {status:?} within 20 s");
    }

    pub async fn health(&self, service: &str) -> ServingStatus {
        let mut health = HealthClient::new(self.channel().await);
        let response = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health check answers");
        ServingStatus::try_from(response.into_inner().status).unwrap()
    }

    /// Waits (up to 10 s) until the overall health is `status`.
    pub async fn wait_for_health(&self, status: ServingStatus) {
        for _ in 0..100 {
            if Channel::from_shared(format!("http://{}", self.addr))
                .unwrap()
                .connect()
                .await
                .is_ok()
                && self.health("").await == status
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the server did not report {status:?} within 10 s");
    }

    /// Signals shutdown and waits for the server to finish draining.
    pub async fn stop(mut self) -> Result<(), ServeError> {
        let _ = self.stop.take().expect("not stopped yet").send(());
        self.task
            .take()
            .expect("running")
            .await
            .expect("server task")
    }

    /// Signals shutdown without waiting; [`TestServer::finished`] awaits the end.
    pub fn begin_stop(&mut self) {
        let _ = self.stop.take().expect("not stopped yet").send(());
    }

    pub async fn finished(mut self) -> Result<(), ServeError> {
        self.task
            .take()
            .expect("running")
            .await
            .expect("server task")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The webhook dispatcher, in-process, for one test.
pub struct TestDispatcher {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), producer_profile::webhooks::dispatcher::DispatchError>>,
}

impl TestDispatcher {
    pub fn start(config: Config) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(producer_profile::webhooks::dispatcher::run(config, async {
            let _ = stopped.await;
        }));
        Self {
            stop: Some(stop),
            task,
        }
    }

    /// Stops it gracefully: offsets stored, attempts in flight finished.
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        (&mut self.task).await.unwrap().unwrap();
    }

    /// Kills it: nothing finishes, nothing is committed beyond what already was.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}
