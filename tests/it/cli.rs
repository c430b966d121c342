//! The `producer-profile` binary itself: `token`, `migrate`, and `serve` end to end
//! (logs free of SSNs, a clean exit on SIGTERM).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::rand::SystemRandom;
use ring::signature::Ed25519KeyPair;
use tonic::Code;

use producer_profile::proto::v1 as pb;

use crate::support::database::TestDb;
use crate::support::keys::{self, AUDIENCE, ISSUER};
use crate::support::*;

const BINARY: &str = env!("CARGO_BIN_EXE_producer-profile");

/// A scratch directory, so no `.local/producer-profile.toml` of the developer is read.
fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pp-cli-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The binary, run in `dir`, with no `PP_` settings inherited from the environment.
fn binary(dir: &Path) -> Command {
    let mut command = Command::new(BINARY);
    command.current_dir(dir);
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("PP_")) {
        command.env_remove(name);
    }
    command
}

fn write_dev_key(dir: &Path) -> PathBuf {
    let document = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(document.as_ref())
    );
    let path = dir.join("dev-signing-key.pem");
    std::fs::write(&path, pem).unwrap();
    path
}

#[test]
fn token_refuses_without_a_development_key() {
    let output = binary(&scratch_dir())
        .args(["token", "--account", "ACME", "--scope", "producers:read"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("auth.dev_signing_key"), "{stderr}");
}

/// Runs `token` in `dir` with a fresh development key and the `[auth]` settings given;
/// returns the key's path and the token.
fn mint(dir: &Path, auth_settings: &str, scope: &str, env: &[(&str, &str)]) -> (PathBuf, String) {
    let key = write_dev_key(dir);
    let settings = format!(
        "[auth]\n{auth_settings}\ndev_signing_key = \"{}\"\n",
        key.display()
    );
    std::fs::write(dir.join("producer-profile.toml"), settings).unwrap();
    let output = binary(dir)
        .args([
            "--config",
            "producer-profile.toml",
            "token",
            "--account",
            "ACME",
            "--scope",
            scope,
        ])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        key,
        String::from_utf8(output.stdout).unwrap().trim().to_owned(),
    )
}

#[tokio::test]
async fn a_minted_development_token_is_accepted_by_a_server_trusting_the_key() {
    let auth = format!("issuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\"");
    let (key, token) = mint(&scratch_dir(), &auth, "producers:read producers:write", &[]);
    let server = TestServer::start_with(|config| {
        config.auth.jwks = None;
        config.auth.dev_signing_key = Some(key);
    })
    .await;
    let mut client = server.client(&token).await;
    let created = client
        .create_producer(create(firm("1")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.npn, "1");
    let pii_denied = client
        .list_producers(pb::ListProducersRequest {
            ssn: "123-45-6789".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        pii_denied.code(),
        Code::PermissionDenied,
        "the token carries exactly the scopes asked for"
    );
}

#[test]
fn the_environment_overrides_the_config_file() {
    let environment = [("PP_AUTH__ISSUER", "from-environment")];
    let (_, token) = mint(&scratch_dir(), "issuer = \"from-file\"", "", &environment);
    let claims = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(claims)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["iss"], "from-environment");
    assert_eq!(claims["account_id"], "ACME");
}

#[test]
fn serve_refuses_to_start_with_bad_settings_and_names_them() {
    let dir = scratch_dir();
    let cases = [
        ("PP_AUTH__ISSUER", "", "auth.jwks"),
        (
            "PP_DATABASE__POOL_MAX_SIZE",
            "many",
            "database.pool_max_size",
        ),
        ("PP_AUTH__TYPO", "x", "typo"),
        (
            "PP_RUNTIME__MAX_BLOCKING_THREADS",
            "100000",
            "runtime.max_blocking_threads",
        ),
    ];
    for (variable, value, setting) in cases {
        let output = binary(&dir)
            .arg("serve")
            .env(variable, value)
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(setting), "{variable}: {stderr}");
    }
    let without_keys = binary(&dir)
        .arg("serve")
        .env("PP_AUTH__JWKS", "/nonexistent/jwks.json")
        .env("PP_AUTH__ISSUER", "x")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&without_keys.stderr);
    assert!(stderr.contains("encryption.keys"), "{stderr}");
}

#[test]
fn migrate_applies_pending_migrations_once() {
    let db = TestDb::empty();
    let run = || {
        let output = binary(&scratch_dir())
            .arg("migrate")
            .env("PP_DATABASE__URL", &db.url)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    assert!(run().contains("applied 20261129000001"));
    assert!(run().contains("up to date"));
}

#[test]
fn secrets_in_the_environment_that_look_like_numbers_or_lists_are_accepted() {
    let db = TestDb::empty();
    let output = binary(&scratch_dir())
        .arg("migrate")
        .env("PP_DATABASE__URL", &db.url)
        .env("PP_KAFKA__SASL_PASSWORD", "007")
        .env("PP_ENCRYPTION__BLIND_INDEX_KEY", "[not-a-list")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The settings `serve` needs against `database_url`, trusting the test issuer, on ports
/// of its choosing; the `[log]` and later sections are the test's.
fn serve_settings(database_url: &str) -> String {
    format!(
        "listen_addr = \"127.0.0.1:0\"\n\
         [metrics]\nserve_addr = \"127.0.0.1:0\"\n\
         [database]\nurl = \"{database_url}\"\n\
         [auth]\njwks = \"{jwks}\"\nissuer = \"{ISSUER}\"\naudience = \"{AUDIENCE}\"\n\
         [encryption]\nactive_key_id = \"k\"\nkeys = \"k:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n\
         blind_index_key = \"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=\"\n",
        jwks = keys::issuer().jwks_path.display(),
    )
}

/// Reads JSON log lines from the child's stdout until `serving gRPC`; returns the address.
fn wait_for_address(child: &mut Child, log: &mut Vec<String>) -> String {
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        let line = receiver
            .recv_timeout(Duration::from_secs(20))
            .expect("the server logs its address");
        log.push(line.clone());
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if entry["message"] == "serving gRPC" {
            let address = entry["address"].as_str().unwrap().to_owned();
            // Keep collecting the rest of the log in the background.
            let remaining = Arc::new(std::sync::Mutex::new(Vec::new()));
            let sink = Arc::clone(&remaining);
            std::thread::spawn(move || {
                while let Ok(line) = receiver.recv() {
                    sink.lock().unwrap().push(line);
                }
            });
            LOG_TAIL.with(|tail| *tail.borrow_mut() = Some(remaining));
            return address;
        }
    }
}

/// The trace context the test's gRPC calls carry.
const CALLER_TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

thread_local! {
    static LOG_TAIL: std::cell::RefCell<Option<Arc<std::sync::Mutex<Vec<String>>>>> = const { std::cell::RefCell::new(None) };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_logs_and_exports_no_ssn_or_account_number_and_exits_cleanly_on_sigterm() {
    let db = TestDb::migrated();
    let dir = scratch_dir();
    // Stands in for an OpenTelemetry collector: records what is POSTed to it.
    let collector = crate::support::receiver::Receiver::start().await;
    let collector_base = collector.url.trim_end_matches("/webhooks").to_owned();
    let config = format!(
        "{}[log]\nformat = \"json\"\nfilter = \"debug\"\n\
         [tracing]\notlp_endpoint = \"{collector_base}\"\n",
        serve_settings(&db.url)
    );
    std::fs::write(dir.join("config.toml"), config).unwrap();
    let mut child = binary(&dir)
        .args(["--config", "config.toml", "serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut log = Vec::new();
    let address = wait_for_address(&mut child, &mut log);

    let channel = tonic::transport::Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let value: tonic::metadata::MetadataValue<_> =
        format!("Bearer {}", token("ACME", ALL_PRODUCER_SCOPES))
            .parse()
            .unwrap();
    let mut client =
        pb::producer_profile_service_client::ProducerProfileServiceClient::with_interceptor(
            channel,
            move |mut request: tonic::Request<()>| {
                let metadata = request.metadata_mut();
                metadata.insert("authorization", value.clone());
                metadata.insert("traceparent", CALLER_TRACEPARENT.parse().unwrap());
                Ok(request)
            },
        );
    let created = client
        .create_producer(create(individual("1")))
        .await
        .unwrap()
        .into_inner();
    let mut bad = individual("2");
    person_mut(&mut bad).ssn = "666-45-6789".into();
    client.create_producer(create(bad)).await.unwrap_err();
    client
        .list_producers(pb::ListProducersRequest {
            ssn: "123-45-6789".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(person(&created).ssn, "123456789");
    let account = client
        .create_bank_account(pb::CreateBankAccountRequest {
            producer_id: created.id.clone(),
            bank_account: Some(pb::BankAccount {
                number: "88887777666655".into(),
                ..checking_account()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let renumber = |etag: &str| pb::UpdateBankAccountRequest {
        request_id: String::new(),
        producer_id: created.id.clone(),
        bank_account_id: account.id.clone(),
        bank_account: Some(pb::BankAccount {
            number: "44443333222211".into(),
            ..Default::default()
        }),
        update_mask: update_mask(&["number"]),
        producer_etag: etag.into(),
    };
    // Fails after the number was parsed (stale etag), then succeeds.
    client.update_bank_account(renumber("1")).await.unwrap_err();
    client.update_bank_account(renumber("")).await.unwrap();
    let short = pb::BankAccount {
        number: "12".into(),
        ..checking_account()
    };
    client
        .create_bank_account(pb::CreateBankAccountRequest {
            producer_id: created.id.clone(),
            bank_account: Some(short),
            ..Default::default()
        })
        .await
        .unwrap_err();

    // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
    let killed = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(killed, 0);
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "a clean exit on SIGTERM: {exit:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;

    LOG_TAIL.with(|tail| {
        log.extend(
            tail.borrow()
                .as_ref()
                .unwrap()
                .lock()
                .unwrap()
                .iter()
                .cloned(),
        )
    });
    let all = log.join("\n");
    assert!(
        all.contains("producer created"),
        "the log shows the work: {all}"
    );
    assert!(all.contains("stopped"), "the log shows the drain finished");
    // The events carry the caller's trace, continued by the server's own spans.
    #[derive(diesel::QueryableByName)]
    struct Stored {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        traceparent: Option<String>,
    }
    use diesel::RunQueryDsl;
    let stored: Vec<Stored> = diesel::sql_query("SELECT traceparent FROM events")
        .load(&mut db.connect())
        .unwrap();
    assert!(!stored.is_empty());
    for event in &stored {
        let traceparent = event.traceparent.as_deref().expect("a trace context");
        let parts: Vec<&str> = traceparent.split('-').collect();
        let caller: Vec<&str> = CALLER_TRACEPARENT.split('-').collect();
        assert_eq!(parts[1], caller[1], "the caller's trace id");
        assert_ne!(parts[2], caller[2], "a span of the server's");
    }

    // Spans were flushed to the collector on the way out.
    let exported = collector.received();
    assert!(!exported.is_empty(), "spans reached the collector");
    assert!(
        exported
            .iter()
            .all(|r| r.headers["content-type"] == "application/x-protobuf")
    );
    let spans: String = exported.iter().map(|r| r.body.as_str()).collect();
    assert!(spans.contains("producer-profile"), "the service name");
    assert!(spans.contains("CreateProducer"), "the handler spans");
    for secret in [
        "123456789",
        "123-45-6789",
        "666-45-6789",
        "666456789",
        "45-6789",
        "88887777666655",
        "44443333222211",
    ] {
        assert!(!all.contains(secret), "{secret} leaked into the log");
        assert!(!spans.contains(secret), "{secret} leaked into a span");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_trace_id_appears_in_the_dispatchers_attempt_log() {
    use crate::support::hooks::{MANAGE, endpoint};
    use crate::support::receiver::Receiver;
    use secrecy::ExposeSecret;

    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    endpoint(&mut hooks, &receiver.url, &["id.producer"]).await;
    let config = &server.config;
    let mut dispatcher = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_webhook-dispatcher"))
            .current_dir(scratch_dir())
            .env("PP_DATABASE__URL", config.database.url.expose_secret())
            .env("PP_KAFKA__BROKERS", &config.kafka.brokers)
            .env("PP_KAFKA__TOPIC", &config.kafka.topic)
            .env(
                "PP_ENCRYPTION__ACTIVE_KEY_ID",
                &config.encryption.active_key_id,
            )
            .env(
                "PP_ENCRYPTION__KEYS",
                config.encryption.keys.expose_secret(),
            )
            .env(
                "PP_ENCRYPTION__BLIND_INDEX_KEY",
                config.encryption.blind_index_key.expose_secret(),
            )
            .env("PP_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true")
            .env("PP_METRICS__DISPATCHER_ADDR", "127.0.0.1:0")
            .env("PP_LOG__FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let lines = log_lines(&mut dispatcher.0);

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let token = token("ACME", ALL_PRODUCER_SCOPES);
    let mut client =
        pb::producer_profile_service_client::ProducerProfileServiceClient::with_interceptor(
            server.channel().await,
            move |mut request: tonic::Request<()>| {
                let metadata = request.metadata_mut();
                metadata.insert("authorization", format!("Bearer {token}").parse().unwrap());
                metadata.insert(
                    "traceparent",
                    format!("00-{trace_id}-00f067aa0ba902b7-01")
                        .parse()
                        .unwrap(),
                );
                Ok(request)
            },
        );
    client.create_producer(create(firm("1"))).await.unwrap();

    let attempt = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the dispatcher logs the attempt");
        if line.contains("\"webhook attempt\"") {
            break line;
        }
    };
    drop(dispatcher);
    let entry: serde_json::Value = serde_json::from_str(&attempt).unwrap();
    assert_eq!(entry["status"], 200, "{attempt}");
    let span_trace_ids: Vec<&str> = entry["spans"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|span| span["trace_id"].as_str())
        .collect();
    assert_eq!(span_trace_ids, [trace_id], "{attempt}");
    let sent = receiver.received();
    let delivered = sent.last().unwrap();
    assert!(
        delivered.headers["traceparent"].contains(trace_id),
        "the receiver can continue the trace too"
    );
}

/// The child's stdout, line by line, as it comes.
fn log_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// A child process that does not outlive its test, even one that fails.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn readable_logs_written_to_a_file_or_pipe_carry_no_colour_codes() {
    let db = TestDb::migrated();
    let dir = scratch_dir();
    let config = format!("{}[log]\nformat = \"pretty\"\n", serve_settings(&db.url));
    std::fs::write(dir.join("config.toml"), config).unwrap();
    let mut child = KillOnDrop(
        binary(&dir)
            .args(["--config", "config.toml", "serve"])
            .env_remove("NO_COLOR")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let lines = log_lines(&mut child.0);
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("serving gRPC")) {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("waited 20 s for `serving gRPC` in the log: {seen:#?}"));
        seen.push(line);
    }
    let with_escapes: Vec<&String> = seen.iter().filter(|l| l.contains('\u{1b}')).collect();
    assert!(
        with_escapes.is_empty(),
        "ANSI escapes in a piped log: {with_escapes:?}"
    );
    assert!(
        seen.iter().any(|l| l.contains(" INFO ")),
        "the readable format, not JSON: {seen:#?}"
    );
}
