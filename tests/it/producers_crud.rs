//! The producer RPCs' success paths, and their NOT_FOUND / ALREADY_EXISTS / ABORTED cases.

use tonic::Code;

use producer_profile::proto::v1 as pb;

use crate::support::*;

#[tokio::test]
async fn an_individual_is_created_and_read_back_by_id_and_by_npn() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;

    let created = client
        .create_producer(create(individual("1234567")))
        .await
        .unwrap()
        .into_inner();
    assert!(!created.id.is_empty());
    assert_eq!(created.r#type, pb::ProducerType::Individual as i32);
    assert_eq!((created.version, created.etag.as_str()), (1, "1"));
    assert!(created.create_time.is_some() && created.update_time == created.create_time);
    let person = person(&created);
    assert_eq!(
        (person.first_name.as_str(), person.last_name.as_str()),
        ("Ada", "Lovelace")
    );
    assert_eq!(
        (person.ssn.as_str(), person.ssn_last4.as_str()),
        ("123456789", "6789")
    );
    assert_eq!(person.date_of_birth, "1985-12-10");

    let by_id = client
        .get_producer(by_id(created.id.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_id, created);
    let by_npn = client
        .get_producer_by_npn(pb::GetProducerByNpnRequest {
            npn: " 1234567 ".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_npn, created);
}

#[tokio::test]
async fn a_firm_is_created_with_its_fein_normalised() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let created = client
        .create_producer(create(firm("77")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.r#type, pb::ProducerType::Firm as i32);
    let firm = firm_of(&created);
    assert_eq!(firm.name, "Analytical Engines Agency");
    assert_eq!(firm.fein, "123456789");
    assert_eq!(firm.business_type, pb::BusinessType::Llc as i32);
}

#[tokio::test]
async fn a_second_producer_with_the_same_npn_is_already_exists_and_changes_nothing() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    client
        .create_producer(create(individual("555")))
        .await
        .unwrap();
    let duplicate = client
        .create_producer(create(firm("555")))
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists, "{duplicate:?}");
    assert!(duplicate.message().contains("NPN"));
    let all = client
        .list_producers(pb::ListProducersRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.producers.len(), 1);
    assert_eq!(all.producers[0].r#type, pb::ProducerType::Individual as i32);
}

#[tokio::test]
async fn a_deleted_producer_is_gone() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let created = client
        .create_producer(create(individual("42")))
        .await
        .unwrap()
        .into_inner();
    client
        .delete_producer(pb::DeleteProducerRequest {
            request_id: String::new(),
            id: created.id.clone(),
            etag: created.etag.clone(),
        })
        .await
        .unwrap();
    let get = client
        .get_producer(by_id(created.id.clone()))
        .await
        .unwrap_err();
    assert_eq!(get.code(), Code::NotFound);
    let again = client
        .delete_producer(pb::DeleteProducerRequest {
            request_id: String::new(),
            id: created.id.clone(),
            etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::NotFound);
    // The NPN is free again.
    client
        .create_producer(create(individual("42")))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_delete_with_a_stale_etag_is_aborted_and_deletes_nothing() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let created = client
        .create_producer(create(individual("43")))
        .await
        .unwrap()
        .into_inner();
    let updated = client
        .update_producer(change_npn(&created.id, "44"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.version, 2);
    let stale = client
        .delete_producer(pb::DeleteProducerRequest {
            request_id: String::new(),
            id: created.id.clone(),
            etag: created.etag,
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted, "{stale:?}");
    client.get_producer(by_id(created.id)).await.unwrap();
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_not_found_and_invalid() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let missing = client
        .get_producer(by_id(uuid::Uuid::now_v7().to_string()))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let malformed = client.get_producer(by_id("not-an-id")).await.unwrap_err();
    assert_eq!(violated_fields(&malformed), ["id"]);
    let unknown_npn = client
        .get_producer_by_npn(pb::GetProducerByNpnRequest { npn: "999".into() })
        .await
        .unwrap_err();
    assert_eq!(unknown_npn.code(), Code::NotFound);
}
