//! Tenant isolation: another account's producer is indistinguishable from a missing one.

use tonic::Code;

use producer_profile::proto::v1 as pb;

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
            request_id: String::new(),
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

#[tokio::test]
async fn another_account_reaches_none_of_a_producers_children() {
    let server = TestServer::start().await;
    let mut acme = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let mut globex = server.client_for("GLOBEX", ALL_PRODUCER_SCOPES).await;
    let producer = acme
        .create_producer(create(individual("1")))
        .await
        .unwrap()
        .into_inner();
    let pid = producer.id.clone();
    let address = acme
        .create_address(pb::CreateAddressRequest {
            producer_id: pid.clone(),
            address: Some(mailing_address()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let phone = acme
        .create_phone(pb::CreatePhoneRequest {
            producer_id: pid.clone(),
            phone: Some(cell_phone()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let account = acme
        .create_bank_account(pb::CreateBankAccountRequest {
            producer_id: pid.clone(),
            bank_account: Some(checking_account()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let policy = acme
        .create_insurance_policy(pb::CreateInsurancePolicyRequest {
            producer_id: pid.clone(),
            insurance_policy: Some(eo_policy()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mask = || update_mask(&["preferred"]);

    let codes = vec![
        globex
            .create_address(pb::CreateAddressRequest {
                producer_id: pid.clone(),
                address: Some(mailing_address()),
                ..Default::default()
            })
            .await
            .unwrap_err()
            .code(),
        globex
            .get_address(pb::GetAddressRequest {
                producer_id: pid.clone(),
                address_id: address.id.clone(),
            })
            .await
            .unwrap_err()
            .code(),
        globex
            .list_addresses(pb::ListAddressesRequest {
                producer_id: pid.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err()
            .code(),
        globex
            .update_address(pb::UpdateAddressRequest {
                request_id: String::new(),
                producer_id: pid.clone(),
                address_id: address.id.clone(),
                address: Some(pb::Address::default()),
                update_mask: mask(),
                producer_etag: String::new(),
            })
            .await
            .unwrap_err()
            .code(),
        globex
            .delete_address(pb::DeleteAddressRequest {
                request_id: String::new(),
                producer_id: pid.clone(),
                address_id: address.id.clone(),
                producer_etag: String::new(),
            })
            .await
            .unwrap_err()
            .code(),
        globex
            .create_phone(pb::CreatePhoneRequest {
                producer_id: pid.clone(),
                phone: Some(cell_phone()),
                ..Default::default()
            })
            .await
            .unwrap_err()
            .code(),
        globex
            .get_phone(pb::GetPhoneRequest {
                producer_id: pid.clone(),
                phone_id: phone.id.clone(),
            })
            .await
            .unwrap_err()
            .code(),
        globex
            .list_phones(pb::ListPhonesRequest {
                producer_id: pid.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err()
            .code(),
        globex
            .update_phone(pb::UpdatePhoneRequest {
                request_id: String::new(),
                producer_id: pid.clone(),
                phone_id: phone.id.clone(),
                phone: Some(pb::Phone::default()),
                update_mask: mask(),
                producer_etag: String::new(),
            })
            .await
            .unwrap_err()
            .code(),
        globex
            .delete_phone(pb::DeletePhoneRequest {
                request_id: String::new(),
                producer_id: pid.clone(),
                phone_id: phone.id.clone(),
                producer_etag: String::new(),
            })
            .await
            .unwrap_err()
            .code(),
        globex
            .create_bank_account(pb::CreateBankAccountRequest {
                producer_id: pid.clone(),
                bank_account: Some(checking_account()),
                ..Default::default()
            })
            .await
            .unwrap_err()
            .code(),
        globex
            .get_bank_account(pb::GetBankAccountRequest {
                producer_id: pid.clone(),
                bank_account_id: account.id.clone(),
            })
            .await
            .unwrap_err()
            .code(),
        globex
            .list_bank_accounts(pb::ListBankAccountsRequest {
                producer_id: pid.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err()
            .code(),
        globex
            .update_bank_account(pb::UpdateBankAccountRequest {
                request_id: String::new(),
                producer_id: pid.clone(),
                bank_account_id: account.id.clone(),
                bank_account: Some(pb::BankAccount::default()),
                update_mask: update_mask(&["primary_account"]),
                producer_etag: String::new(),
            })
            .await
            .unwrap_err()
            .code(),
        globex
            .delete_bank_account(pb::DeleteBankAccountRequest {
                request_id: String::new(),
                producer_id: pid.clone(),
                bank_account_id: account.id.clone(),
                producer_etag: String::new(),
            })
            .await
            .unwrap_err()
            .code(),
        globex
            .create_insurance_policy(pb::CreateInsurancePolicyRequest {
                producer_id: pid.clone(),
                insurance_policy: Some(eo_policy()),
                ..Default::default()
            })
            .await
            .unwrap_err()
            .code(),
        globex
            .get_insurance_policy(pb::GetInsurancePolicyRequest {
                producer_id: pid.clone(),
                insurance_policy_id: policy.id.clone(),
            })
            .await
            .unwrap_err()
            .code(),
        globex
            .list_insurance_policies(pb::ListInsurancePoliciesRequest {
                producer_id: pid.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err()
            .code(),
        globex
            .update_insurance_policy(pb::UpdateInsurancePolicyRequest {
                request_id: String::new(),
                producer_id: pid.clone(),
                insurance_policy_id: policy.id.clone(),
                insurance_policy: Some(pb::InsurancePolicy::default()),
                update_mask: update_mask(&["carrier"]),
                producer_etag: String::new(),
            })
            .await
            .unwrap_err()
            .code(),
        globex
            .delete_insurance_policy(pb::DeleteInsurancePolicyRequest {
                request_id: String::new(),
                producer_id: pid.clone(),
                insurance_policy_id: policy.id.clone(),
                producer_etag: String::new(),
            })
            .await
            .unwrap_err()
            .code(),
        globex
            .check_coverage(pb::CheckCoverageRequest {
                producer_id: pid.clone(),
                date: "2026-06-01".into(),
            })
            .await
            .unwrap_err()
            .code(),
        globex
            .get_producer(pb::GetProducerRequest {
                id: pid.clone(),
                view: pb::ProducerView::Full as i32,
            })
            .await
            .unwrap_err()
            .code(),
    ];
    assert!(codes.iter().all(|c| *c == Code::NotFound), "{codes:?}");
    let covered = globex
        .list_producers(pb::ListProducersRequest {
            covered_on: "2026-06-01".into(),
            address_state: "IL".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(covered.producers.is_empty());

    let full = acme
        .get_producer(pb::GetProducerRequest {
            id: pid,
            view: pb::ProducerView::Full as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        full.version, 5,
        "nothing another account did changed the producer"
    );
    assert_eq!(
        (
            full.addresses.len(),
            full.phones.len(),
            full.bank_accounts.len(),
            full.insurance_policies.len()
        ),
        (1, 1, 1, 1)
    );
}

#[tokio::test]
async fn a_child_is_only_reached_through_its_own_producer() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let first = client
        .create_producer(create(individual("1")))
        .await
        .unwrap()
        .into_inner();
    let second = client
        .create_producer(create(individual("2")))
        .await
        .unwrap()
        .into_inner();
    let address = client
        .create_address(pb::CreateAddressRequest {
            producer_id: first.id,
            address: Some(mailing_address()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let status = client
        .get_address(pb::GetAddressRequest {
            producer_id: second.id.clone(),
            address_id: address.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = client
        .delete_address(pb::DeleteAddressRequest {
            request_id: String::new(),
            producer_id: second.id,
            address_id: address.id,
            producer_etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}
