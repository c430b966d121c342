//! Creates with a request id: a retry returns the first result, never a duplicate.

use tonic::Code;

use producer_profile::api::proto::v1 as pb;

use crate::support::*;

fn keyed(producer: pb::Producer, request_id: &str) -> pb::CreateProducerRequest {
    pb::CreateProducerRequest {
        producer: Some(producer),
        request_id: request_id.into(),
    }
}

async fn count(client: &mut crate::support::server::Client) -> usize {
    client
        .list_producers(pb::ListProducersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .producers
        .len()
}

#[tokio::test]
async fn a_replayed_create_returns_the_first_result_and_creates_nothing() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let first = client
        .create_producer(keyed(individual("1"), "req-1"))
        .await
        .unwrap()
        .into_inner();
    let replay = client
        .create_producer(keyed(individual("1"), "req-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(replay, first);
    assert_eq!(count(&mut client).await, 1);
}

#[tokio::test]
async fn the_same_request_id_with_another_body_is_refused() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    client
        .create_producer(keyed(individual("1"), "req-1"))
        .await
        .unwrap();
    let status = client
        .create_producer(keyed(individual("2"), "req-1"))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["request_id"]);
    assert_eq!(count(&mut client).await, 1);
}

#[tokio::test]
async fn concurrent_retries_of_one_create_make_one_producer() {
    let server = TestServer::start().await;
    let client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let attempts: Vec<_> = (0..5)
        .map(|_| {
            let mut client = client.clone();
            tokio::spawn(async move { client.create_producer(keyed(firm("9"), "same-key")).await })
        })
        .collect();
    let mut ids = Vec::new();
    for attempt in attempts {
        ids.push(
            attempt
                .await
                .unwrap()
                .expect("every retry succeeds")
                .into_inner()
                .id,
        );
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every retry returned the same producer");
    assert_eq!(count(&mut client.clone()).await, 1);
}

#[tokio::test]
async fn request_ids_are_per_account() {
    let server = TestServer::start().await;
    let mut acme = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let mut globex = server.client_for("GLOBEX", ALL_PRODUCER_SCOPES).await;
    let a = acme
        .create_producer(keyed(firm("1"), "req"))
        .await
        .unwrap()
        .into_inner();
    let b = globex
        .create_producer(keyed(firm("1"), "req"))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(a.id, b.id);
}

#[tokio::test]
async fn replaying_the_create_of_a_deleted_producer_is_not_found() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let first = client
        .create_producer(keyed(firm("1"), "req"))
        .await
        .unwrap()
        .into_inner();
    client
        .delete_producer(pb::DeleteProducerRequest {
            id: first.id,
            etag: String::new(),
        })
        .await
        .unwrap();
    let replay = client
        .create_producer(keyed(firm("1"), "req"))
        .await
        .unwrap_err();
    assert_eq!(replay.code(), Code::NotFound);
    assert_eq!(count(&mut client).await, 0);
}
