//! `make demo`: the five-minute tour. Against the local server and dispatcher (`make
//! run`), it starts a webhook receiver that verifies every signature, registers it,
//! creates a producer with an address and a bank account, and shows the events on
//! Kafka and the signed webhooks arriving.
//!
//! The receiver's check is written here from the Standard Webhooks spec, as a partner
//! would write it: HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}` with the
//! secret after `whsec_`, compared with each `v1,` signature.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use prost::Message as _;
use rdkafka::Message as _;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use tokio::sync::{mpsc, watch};
use tonic::transport::Channel;

use producer_profile::auth::DevSigningKey;
use producer_profile::config::Config;
use producer_profile::domain::AccountId;
use producer_profile::events::kafka::client_config;
use producer_profile::proto::{events as ev, v1 as pb};

const ACCOUNT: &str = "DEMO";
/// The webhooks the tour waits for: the producer, its address, its bank account.
const EXPECTED_WEBHOOKS: usize = 3;

/// One webhook as the receiver got it.
struct Arrival {
    webhook_id: String,
    signature_ok: bool,
    body: serde_json::Value,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config =
        Config::load(None).context("reading .local/producer-profile.toml (run `make run` once)")?;
    let key_path = config
        .auth
        .dev_signing_key
        .clone()
        .context("auth.dev_signing_key is not set: the demo mints tokens with the local key")?;
    let key = DevSigningKey::load(&key_path).map_err(anyhow::Error::msg)?;
    let account = AccountId::parse(ACCOUNT).map_err(|e| anyhow::anyhow!("{e}"))?;
    let token = |scope: &str| key.mint(&config.auth, &account, scope, Duration::from_secs(600));

    step("1. Waiting for the server", &config.listen_addr.to_string());
    let channel = connect(&format!("http://{}", config.listen_addr)).await?;

    let (secret_tx, secret_rx) = watch::channel(None::<String>);
    let (arrivals_tx, mut arrivals) = mpsc::unbounded_channel();
    let receiver_url = start_receiver(secret_rx, arrivals_tx).await?;
    step("2. A webhook receiver is listening", &receiver_url);

    let mut hooks = pb::webhook_service_client::WebhookServiceClient::with_interceptor(
        channel.clone(),
        bearer(token("webhooks:manage")),
    );
    let created = hooks
        .create_endpoint(pb::CreateEndpointRequest {
            request_id: String::new(),
            endpoint: Some(pb::Endpoint {
                url: receiver_url.clone(),
                event_types: vec!["id.producer".into()],
                description: "make demo".into(),
                ..Default::default()
            }),
        })
        .await
        .context("registering the endpoint")?
        .into_inner();
    let endpoint = created.endpoint.unwrap_or_default();
    secret_tx.send_replace(Some(created.secret.clone()));
    step(
        "3. Registered it (it answered the signed verification request)",
        &format!(
            "endpoint {}, secret {}…",
            endpoint.id,
            &created.secret[..12]
        ),
    );

    let events = event_reader(&config)?;
    let mut producers =
        pb::producer_profile_service_client::ProducerProfileServiceClient::with_interceptor(
            channel,
            bearer(token("producers:read producers:write")),
        );
    let producer = producers
        .create_producer(pb::CreateProducerRequest {
            producer: Some(pb::Producer {
                npn: demo_npn(),
                details: Some(pb::producer::Details::Individual(pb::Individual {
                    first_name: "Ada".into(),
                    last_name: "Lovelace".into(),
                    ssn: "123-45-6789".into(),
                    ..Default::default()
                })),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .context("creating the producer")?
        .into_inner();
    producers
        .create_address(pb::CreateAddressRequest {
            producer_id: producer.id.clone(),
            address: Some(pb::Address {
                r#type: pb::AddressType::Mailing as i32,
                address_line1: "12 Analytical Way".into(),
                city: "Springfield".into(),
                state: "IL".into(),
                zip: "62701".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .context("adding the address")?;
    let account_created = producers
        .create_bank_account(pb::CreateBankAccountRequest {
            producer_id: producer.id.clone(),
            bank_account: Some(pb::BankAccount {
                bank_name: "First Bank".into(),
                holder_name: "Ada Lovelace".into(),
                routing_number: "021000021".into(),
                number: "000123456789".into(),
                r#type: pb::BankAccountType::Checking as i32,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .context("adding the bank account")?
        .into_inner();
    step(
        "4. Created a producer with an address and a bank account",
        &format!(
            "producer {} (NPN {}); the API answers the bank number as {}",
            producer.id, producer.npn, account_created.number
        ),
    );

    step("5. The events on Kafka", &config.kafka.topic);
    show_events(&events, &producer.id).await;

    step("6. The signed webhooks arriving", "");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = 0;
    while seen < EXPECTED_WEBHOOKS {
        let wait = deadline.saturating_duration_since(Instant::now());
        let Ok(Some(arrival)) = tokio::time::timeout(wait, arrivals.recv()).await else {
            bail!(
                "only {seen} of {EXPECTED_WEBHOOKS} webhooks arrived in 30 s: is webhook-dispatcher running? (.local/logs/)"
            );
        };
        if arrival.body["data"]["producerId"] != producer.id.as_str() {
            continue;
        }
        seen += 1;
        show_webhook(&arrival);
    }
    println!(
        "\nDone. Try ListDeliveries/ListAttempts for endpoint {} (README: Webhooks).",
        endpoint.id
    );
    Ok(())
}

/// A step's title, in bold at a terminal (plain in a pipe or a log).
fn step(title: &str, detail: &str) {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        println!("\n\x1b[1m{title}\x1b[0m {detail}");
    } else {
        println!("\n{title} {detail}");
    }
}

/// The gRPC channel, retried while the server is still starting.
async fn connect(url: &str) -> anyhow::Result<Channel> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match Channel::from_shared(url.to_owned())?.connect().await {
            Ok(channel) => return Ok(channel),
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(500)).await
            }
            Err(error) => {
                bail!("the server at {url} does not answer ({error}): start it with `make run`")
            }
        }
    }
}

fn bearer(
    token: String,
) -> impl FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Clone {
    let value: tonic::metadata::MetadataValue<_> =
        format!("Bearer {token}").parse().expect("a token is ASCII");
    move |mut request: tonic::Request<()>| {
        request
            .metadata_mut()
            .insert("authorization", value.clone());
        Ok(request)
    }
}

/// An NPN of this run (NPNs are unique per account).
fn demo_npn() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}", 1_000_000_000 + now.as_secs() % 1_000_000_000)
}

/// A consumer of the events topic from its start, in a group of its own.
fn event_reader(config: &Config) -> anyhow::Result<StreamConsumer> {
    let group = format!("producer-profile-demo-{}", uuid::Uuid::now_v7().simple());
    let consumer: StreamConsumer = client_config(&config.kafka)
        .set("group.id", &group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    consumer.subscribe(&[&config.kafka.topic])?;
    Ok(consumer)
}

/// Prints the producer's events (keyed by its id) as they come, for a few seconds.
async fn show_events(consumer: &StreamConsumer, producer_id: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut shown = 0;
    while shown < EXPECTED_WEBHOOKS {
        let wait = deadline.saturating_duration_since(Instant::now());
        let Ok(Ok(message)) = tokio::time::timeout(wait, consumer.recv()).await else {
            println!("   (no more events within 15 s)");
            return;
        };
        if message.key() != Some(producer_id.as_bytes()) {
            continue;
        }
        let Some(event) = message.payload().and_then(|p| ev::Event::decode(p).ok()) else {
            continue;
        };
        let ce_type = message
            .headers()
            .and_then(|h| h.iter().find(|h| h.key == "ce_type"))
            .and_then(|h| h.value)
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        println!(
            "   partition {} offset {}: {ce_type}, sequence {}, key = producer id",
            message.partition(),
            message.offset(),
            event.sequence,
        );
        shown += 1;
    }
}

fn show_webhook(arrival: &Arrival) {
    let data = &arrival.body["data"];
    let check = if arrival.signature_ok {
        "✔ signature verified"
    } else {
        "✘ BAD SIGNATURE"
    };
    println!(
        "   {check}  {}  {} ({}), sequence {}",
        arrival.webhook_id, arrival.body["type"], data["action"], data["sequence"]
    );
    if let Some(account) = data.get("bankAccount") {
        println!(
            "      bankAccount.number = {} (never the full number)",
            account["number"]
        );
    }
    if let Some(producer) = data.get("producer") {
        println!(
            "      producer.individual.ssnLast4 = {} (no SSN in webhooks)",
            producer["individual"]["ssnLast4"]
        );
    }
}

/// Answers every POST with 204 and hands it over, with its signature checked once the
/// secret is known. (The verification request comes before CreateEndpoint returns the
/// secret: it is answered, not checked.)
async fn start_receiver(
    secret: watch::Receiver<Option<String>>,
    arrivals: mpsc::UnboundedSender<Arrival>,
) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/webhooks", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let secret = secret.clone();
            let arrivals = arrivals.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let secret = secret.borrow().clone();
                        let arrivals = arrivals.clone();
                        async move {
                            let header = |name: &str| {
                                request
                                    .headers()
                                    .get(name)
                                    .and_then(|v| v.to_str().ok())
                                    .unwrap_or_default()
                                    .to_owned()
                            };
                            let (id, timestamp, signatures) = (
                                header("webhook-id"),
                                header("webhook-timestamp"),
                                header("webhook-signature"),
                            );
                            let body = request
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            if let Some(secret) = secret {
                                let _ = arrivals.send(Arrival {
                                    signature_ok: verify(
                                        &secret,
                                        &id,
                                        &timestamp,
                                        &body,
                                        &signatures,
                                    ),
                                    webhook_id: id,
                                    body: serde_json::from_slice(&body).unwrap_or_default(),
                                });
                            }
                            let mut response = hyper::Response::new(Full::new(Bytes::new()));
                            *response.status_mut() = hyper::StatusCode::NO_CONTENT;
                            Ok::<_, Infallible>(response)
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(url)
}

/// Standard Webhooks: any `v1,` signature matching HMAC-SHA256(key, "id.timestamp.body").
fn verify(secret: &str, id: &str, timestamp: &str, body: &[u8], signatures: &str) -> bool {
    let Ok(key) = BASE64.decode(secret.trim_start_matches("whsec_")) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    signatures
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|s| BASE64.decode(s).ok())
        .any(|signature| ring::hmac::verify(&key, &signed, &signature).is_ok())
}
