//! The metrics ports of both binaries, scraped during a run: the counters move with the
//! calls, events and webhooks, and the probes answer.

use std::net::SocketAddr;

use tonic::Code;

use crate::support::hooks::*;
use crate::support::receiver::{Answer, Receiver};
use crate::support::server::TestDispatcher;
use crate::support::*;

/// A loopback address nothing listens on now.
fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The value of one series (name with its labels, exactly as exposed), if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
}

/// Scrapes until `series` reaches `at_least` (or the wait is over); the last scrape.
async fn scrape_until(addr: SocketAddr, series: &str, at_least: f64) -> String {
    poll_until(
        &format!("{series} >= {at_least}"),
        || async move { get(addr, "/metrics").await.1 },
        |text| value(text, series).is_some_and(|v| v >= at_least),
    )
    .await
}

const PRODUCERS: &str = "producerprofile.v1.ProducerProfileService";

/// The series counting calls of `method` that ended with `grpc_code`.
fn call(method: &str, grpc_code: &str) -> String {
    format!(
        r#"producer_profile_grpc_server_handled_total{{service="{PRODUCERS}",method="{method}",grpc_code="{grpc_code}"}}"#
    )
}

#[tokio::test]
async fn the_servers_metrics_count_calls_published_events_and_pool_use() {
    let addr = free_addr();
    let server = TestServer::start_with(|config| config.metrics.serve_addr = addr).await;
    assert_eq!(get(addr, "/healthz").await.0, 200);
    assert_eq!(
        poll_until(
            "/readyz to answer 200",
            || get(addr, "/readyz"),
            |(status, _)| *status == 200
        )
        .await
        .0,
        200
    );
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    client.create_producer(create(firm("1"))).await.unwrap();
    let missing = client
        .get_producer(by_id(uuid::Uuid::now_v7().to_string()))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    let text = scrape_until(addr, "producer_profile_events_published_total", 1.0).await;
    assert_eq!(
        value(&text, &call("CreateProducer", "Ok")),
        Some(1.0),
        "{text}"
    );
    assert_eq!(value(&text, &call("GetProducer", "NotFound")), Some(1.0));
    assert_eq!(
        value(
            &text,
            &format!(
                r#"producer_profile_grpc_server_handling_seconds_count{{service="{PRODUCERS}",method="CreateProducer"}}"#
            )
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "producer_profile_event_publish_delay_seconds_count"),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "producer_profile_event_relay_leader"),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "producer_profile_database_connections_max"),
        Some(server.config.database.pool_max_size as f64)
    );
    assert!(
        value(
            &text,
            r#"producer_profile_database_connections{state="idle"}"#
        )
        .is_some()
    );
    assert!(value(&text, "producer_profile_outbox_backlog_events").is_some());
    assert!(!text.contains("ACME"), "no account ids in labels");
}

#[tokio::test]
async fn the_dispatchers_metrics_count_recorded_deliveries_and_attempts_by_outcome() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let mut hooks = server.webhook_client("ACME", MANAGE).await;
    endpoint(&mut hooks, &receiver.url, &["id.producer"]).await;
    receiver.answer_with(|_, seen| Answer::status(if seen == 1 { 500 } else { 200 }));
    let addr = free_addr();
    let mut config = server.config.clone();
    config.metrics.dispatcher_addr = addr;
    let dispatcher = TestDispatcher::start(config);
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    client.create_producer(create(firm("1"))).await.unwrap();

    let text = scrape_until(
        addr,
        r#"producer_profile_webhook_attempts_total{outcome="succeeded"}"#,
        1.0,
    )
    .await;
    assert_eq!(
        value(
            &text,
            r#"producer_profile_webhook_attempts_total{outcome="retried"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "producer_profile_webhook_deliveries_recorded_total"),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            r#"producer_profile_webhook_attempt_seconds_count{outcome="succeeded"}"#
        ),
        Some(1.0)
    );
    assert!(value(&text, "producer_profile_webhook_consumer_lag_events").is_some());
    let settled = scrape_until(addr, "producer_profile_webhook_deliveries_pending", 0.0).await;
    assert!(value(&settled, "producer_profile_webhook_endpoints_disabled").is_some());
    assert_eq!(get(addr, "/readyz").await.0, 200);
    assert_eq!(get(addr, "/nothing-here").await.0, 404);
    dispatcher.stop().await;
    assert!(
        reqwest::get(format!("http://{addr}/healthz"))
            .await
            .is_err(),
        "the port closes with the dispatcher"
    );
}

#[tokio::test]
async fn a_metrics_port_in_use_is_a_start_up_error_naming_the_setting() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let db = std::sync::Arc::new(crate::support::database::TestDb::migrated());
    let mut config = crate::support::server::test_config(&db.url);
    config.metrics.serve_addr = taken.local_addr().unwrap();
    let server = TestServer::launch(db, config).await;
    let error = server.finished().await.unwrap_err();
    assert!(
        error.to_string().starts_with("metrics.serve_addr:"),
        "{error}"
    );
}

#[tokio::test]
async fn a_call_cut_off_by_the_request_timeout_is_counted_as_cancelled() {
    let addr = free_addr();
    let server = TestServer::start_with(|config| {
        config.metrics.serve_addr = addr;
        config.grpc.request_timeout_ms = 300;
    })
    .await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let created = client
        .create_producer(create(firm("1")))
        .await
        .unwrap()
        .into_inner();
    // Hold the producer's row, so the update waits past the timeout.
    let blocker = server.db.lock_producers();
    let status = client
        .update_producer(change_npn(&created.id, "2"))
        .await
        .unwrap_err();
    drop(blocker);
    assert_eq!(status.code(), Code::Cancelled, "{status:?}");
    let text = scrape_until(addr, &call("UpdateProducer", "Cancelled"), 1.0).await;
    assert_eq!(
        value(&text, &call("UpdateProducer", "Cancelled")),
        Some(1.0),
        "{text}"
    );
}

/// Every metric name the README's metrics table lists for `binary` (`serve` or
/// `dispatcher`; rows for `both` count for each), without the `producer_profile_` prefix.
fn documented_metrics(binary: &str) -> Vec<String> {
    let readme = include_str!("../../README.md");
    let table = readme
        .split("### Metrics")
        .nth(1)
        .expect("the README has a Metrics section");
    let mut names = Vec::new();
    for row in table.lines().skip_while(|l| !l.starts_with("| `")) {
        let Some(row) = row.strip_prefix("| ") else {
            break;
        };
        let cells: Vec<&str> = row.split(" | ").collect();
        if cells[1] != binary && cells[1] != "both" {
            continue;
        }
        for quoted in cells[0].split('`').skip(1).step_by(2) {
            names.push(quoted.split('{').next().unwrap().to_owned());
        }
    }
    assert!(!names.is_empty(), "no metrics documented for {binary}");
    names
}

/// The names documented for `binary` that have no sample in `text` (a histogram counts
/// by its `_count`, a counter by its `_total`).
fn missing_metrics(text: &str, binary: &str) -> Vec<String> {
    let samples: Vec<&str> = text
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| line.split(['{', ' ']).next().unwrap_or_default())
        .collect();
    documented_metrics(binary)
        .into_iter()
        .filter(|name| {
            let full = format!("producer_profile_{name}");
            !samples
                .iter()
                .any(|s| *s == full || *s == format!("{full}_count"))
        })
        .collect()
}

#[tokio::test]
async fn every_documented_metric_is_on_the_first_scrape_of_a_fresh_server_and_dispatcher() {
    let serve_addr = free_addr();
    let server = TestServer::start_with(|config| config.metrics.serve_addr = serve_addr).await;
    let text = get(serve_addr, "/metrics").await.1;
    assert_eq!(
        missing_metrics(&text, "serve"),
        Vec::<String>::new(),
        "{text}"
    );

    let dispatcher_addr = free_addr();
    let mut config = server.config.clone();
    config.metrics.dispatcher_addr = dispatcher_addr;
    let dispatcher = TestDispatcher::start(config);
    let (status, _) = poll_until(
        "the dispatcher's /healthz to answer 200",
        || get_or_refused(dispatcher_addr, "/healthz"),
        |(status, _)| *status == 200,
    )
    .await;
    assert_eq!(status, 200, "the dispatcher's metrics port answers");
    let text = get(dispatcher_addr, "/metrics").await.1;
    assert_eq!(
        missing_metrics(&text, "dispatcher"),
        Vec::<String>::new(),
        "{text}"
    );
    for series in [
        r#"producer_profile_webhook_attempts_total{outcome="failed"}"#,
        r#"producer_profile_webhook_endpoint_disablements_total{reason="gone"}"#,
        r#"producer_profile_webhook_endpoint_disablements_total{reason="failing"}"#,
    ] {
        assert_eq!(value(&text, series), Some(0.0), "{series} at zero: {text}");
    }
    dispatcher.stop().await;
}

/// Like [`get`], with a refused connection as status 0 (a port not bound yet).
async fn get_or_refused(addr: SocketAddr, path: &str) -> (u16, String) {
    match reqwest::get(format!("http://{addr}{path}")).await {
        Ok(response) => (response.status().as_u16(), response.text().await.unwrap()),
        Err(_) => (0, String::new()),
    }
}
