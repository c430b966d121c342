//! Webhook test helpers: endpoints registered through the API, what a receiver got,
//! and waiting for the dispatcher's records.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use producer_profile::proto::v1 as pb;

use super::fixtures::{change_npn, create, firm};
use super::receiver::Received;
use super::server::{Client, WebhookClient};

/// How long a test waits for the dispatcher.
pub const WAIT: Duration = Duration::from_secs(20);
pub const MANAGE: &str = "webhooks:manage";
const VERIFICATION: &str = "webhook.endpoint.verification";

/// Registers an endpoint for `url` (which must pass verification): it and its secret.
pub async fn endpoint(
    client: &mut WebhookClient,
    url: &str,
    types: &[&str],
) -> (pb::Endpoint, String) {
    let created = client
        .create_endpoint(pb::CreateEndpointRequest {
            request_id: String::new(),
            endpoint: Some(pb::Endpoint {
                url: url.into(),
                event_types: types.iter().map(|t| t.to_string()).collect(),
                description: "partner".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    (created.endpoint.unwrap(), created.secret)
}

/// The error of creating an endpoint for `url` (which must fail).
pub async fn create_error(client: &mut WebhookClient, url: &str) -> tonic::Status {
    client
        .create_endpoint(pb::CreateEndpointRequest {
            request_id: String::new(),
            endpoint: Some(pb::Endpoint {
                url: url.into(),
                event_types: vec!["id.producer".into()],
                ..Default::default()
            }),
        })
        .await
        .unwrap_err()
}

/// The `type` of every received webhook, verification requests left out.
pub fn webhook_types(received: &[Received]) -> Vec<String> {
    received
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap_or_default().to_owned())
        .filter(|t| t != VERIFICATION)
        .collect()
}

/// The received deliveries, verification requests left out.
pub fn deliveries_only(received: Vec<Received>) -> Vec<Received> {
    received
        .into_iter()
        .filter(|r| r.json()["type"] != VERIFICATION)
        .collect()
}

/// Calls `probe` every 100 ms until `done` holds for what it returns, and returns that;
/// fails the test, saying it waited for `what` and what it saw last, when [`WAIT`]
/// passes first.
pub async fn poll_until<T: std::fmt::Debug, F: Future<Output = T>>(
    what: &str,
    mut probe: impl FnMut() -> F,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let result = probe().await;
        if done(&result) {
            return result;
        }
        if tokio::time::Instant::now() > deadline {
            let last: String = format!("{result:?}").chars().take(4000).collect();
            panic!("waited {WAIT:?} for {what}; the last answer: {last}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The endpoint's attempts, newest first.
pub async fn attempts_of(mut client: WebhookClient, endpoint_id: String) -> Vec<pb::Attempt> {
    client
        .list_attempts(pb::ListAttemptsRequest {
            endpoint_id,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .attempts
}

/// The endpoint's deliveries of a status (UNSPECIFIED: all), newest first.
pub async fn deliveries_of(
    mut client: WebhookClient,
    endpoint_id: String,
    status: pb::DeliveryStatus,
) -> Vec<pb::Delivery> {
    client
        .list_deliveries(pb::ListDeliveriesRequest {
            endpoint_id,
            status: status as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .deliveries
}

/// The endpoint as it is now.
pub async fn endpoint_now(mut client: WebhookClient, id: String) -> pb::Endpoint {
    client
        .get_endpoint(pb::GetEndpointRequest { id })
        .await
        .unwrap()
        .into_inner()
}

/// Creates `count` producers, each changed twice after its creation (three events,
/// sequences 1 to 3); their ids.
pub async fn producers_with_three_events(client: &mut Client, count: usize) -> Vec<String> {
    let mut producers = Vec::new();
    for n in 1..=count {
        let id = client
            .create_producer(create(firm(&n.to_string())))
            .await
            .unwrap()
            .into_inner()
            .id;
        for change in 1..=2 {
            client
                .update_producer(change_npn(&id, &format!("{n}0{change}")))
                .await
                .unwrap();
        }
        producers.push(id);
    }
    producers
}

/// For each producer, its events' sequences in the order they first arrived.
pub fn first_arrivals(received: &[Received]) -> BTreeMap<String, Vec<i64>> {
    let mut order: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in received {
        let body = r.json();
        let producer = body["data"]["producerId"].as_str().unwrap().to_owned();
        let sequence = body["data"]["sequence"].as_i64().unwrap();
        let seen = order.entry(producer).or_default();
        if !seen.contains(&sequence) {
            seen.push(sequence);
        }
    }
    order
}
