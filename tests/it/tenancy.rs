//! Tenant isolation: another account's producer is indistinguishable from a missing one.

use tonic::Code;

use producer_profile::api::proto::v1 as pb;

use crate::support::*;

#[tokio::test]
async fn another_account_can_neither_read_list_update_nor_delete_a_producer() {
    let server = TestServer::start().await;
    let mut acme = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let mut globex = server.client_for("GLOBEX", ALL_PRODUCER_SCOPES).await;
    let theirs = acme
        .create_producer(create(individual("1234")))
        .await
        .unwrap()
        .into_inner();

    let get = globex
        .get_producer(by_id(theirs.id.clone()))
        .await
        .unwrap_err();
    assert_eq!(get.code(), Code::NotFound);
    let missing = globex
        .get_producer(by_id(uuid::Uuid::now_v7().to_string()))
        .await
        .unwrap_err();
    assert_eq!(
        get.message(),
        missing.message(),
        "foreign and missing read alike"
    );
    let by_npn = globex
        .get_producer_by_npn(pb::GetProducerByNpnRequest { npn: "1234".into() })
        .await
        .unwrap_err();
    assert_eq!(by_npn.code(), Code::NotFound);
    let listed = globex
        .list_producers(pb::ListProducersRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.producers.is_empty());
    let by_ssn = globex
        .list_producers(pb::ListProducersRequest {
            ssn: "123-45-6789".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(by_ssn.producers.is_empty());
    let update = globex
        .update_producer(change_npn(&theirs.id, "9"))
        .await
        .unwrap_err();
    assert_eq!(update.code(), Code::NotFound);
    let delete = globex
        .delete_producer(pb::DeleteProducerRequest {
            id: theirs.id.clone(),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(delete.code(), Code::NotFound);

    let unchanged = acme
        .get_producer(by_id(theirs.id.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unchanged, theirs);
}

#[tokio::test]
async fn the_same_npn_may_exist_in_two_accounts() {
    let server = TestServer::start().await;
    let mut acme = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let mut globex = server.client_for("GLOBEX", ALL_PRODUCER_SCOPES).await;
    let a = acme
        .create_producer(create(individual("77")))
        .await
        .unwrap()
        .into_inner();
    let b = globex
        .create_producer(create(firm("77")))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(a.id, b.id);
    let seen_by_globex = globex
        .get_producer_by_npn(pb::GetProducerByNpnRequest { npn: "77".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen_by_globex.id, b.id);
}
