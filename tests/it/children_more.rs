//! More child behaviour: scopes on every child RPC, producer etags on updates and
//! deletes, no-op updates, write-only fields, listing tokens, and idempotent creates of
//! encrypted resources (also under concurrency and across OAuth clients).

use tonic::Code;

use producer_profile::proto::v1 as pb;

use crate::support::server::Client;
use crate::support::*;

async fn owner(client: &mut Client) -> pb::Producer {
    client
        .create_producer(create(individual("1")))
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn every_child_rpc_needs_its_scope() {
    let server = TestServer::start().await;
    let mut admin = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let producer = owner(&mut admin).await;
    let pid = producer.id.clone();
    let address = admin
        .create_address(pb::CreateAddressRequest {
            producer_id: pid.clone(),
            address: Some(mailing_address()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut reader = server.client_for("ACME", "producers:read").await;
    let mut writer = server.client_for("ACME", "producers:write").await;
    let writes_by_reader = [
        reader
            .create_address(pb::CreateAddressRequest {
                producer_id: pid.clone(),
                address: Some(mailing_address()),
                ..Default::default()
            })
            .await
            .unwrap_err(),
        reader
            .update_address(pb::UpdateAddressRequest {
                request_id: String::new(),
                producer_id: pid.clone(),
                address_id: address.id.clone(),
                address: Some(pb::Address::default()),
                update_mask: update_mask(&["preferred"]),
                producer_etag: String::new(),
            })
            .await
            .unwrap_err(),
        reader
            .delete_address(pb::DeleteAddressRequest {
                request_id: String::new(),
                producer_id: pid.clone(),
                address_id: address.id.clone(),
                producer_etag: String::new(),
            })
            .await
            .unwrap_err(),
        reader
            .create_phone(pb::CreatePhoneRequest {
                producer_id: pid.clone(),
                phone: Some(cell_phone()),
                ..Default::default()
            })
            .await
            .unwrap_err(),
        reader
            .create_bank_account(pb::CreateBankAccountRequest {
                producer_id: pid.clone(),
                bank_account: Some(checking_account()),
                ..Default::default()
            })
            .await
            .unwrap_err(),
        reader
            .create_insurance_policy(pb::CreateInsurancePolicyRequest {
                producer_id: pid.clone(),
                insurance_policy: Some(eo_policy()),
                ..Default::default()
            })
            .await
            .unwrap_err(),
    ];
    let reads_by_writer = [
        writer
            .get_address(pb::GetAddressRequest {
                producer_id: pid.clone(),
                address_id: address.id.clone(),
            })
            .await
            .unwrap_err(),
        writer
            .list_addresses(pb::ListAddressesRequest {
                producer_id: pid.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err(),
        writer
            .list_phones(pb::ListPhonesRequest {
                producer_id: pid.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err(),
        writer
            .list_bank_accounts(pb::ListBankAccountsRequest {
                producer_id: pid.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err(),
        writer
            .list_insurance_policies(pb::ListInsurancePoliciesRequest {
                producer_id: pid.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err(),
        writer
            .check_coverage(pb::CheckCoverageRequest {
                producer_id: pid.clone(),
                date: String::new(),
            })
            .await
            .unwrap_err(),
    ];
    for status in writes_by_reader.iter().chain(&reads_by_writer) {
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    }
    let now = admin.get_producer(by_id(pid)).await.unwrap().into_inner();
    assert_eq!(now.version, 2, "nothing was written");
}

#[tokio::test]
async fn child_updates_and_deletes_with_a_stale_producer_etag_are_aborted() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let producer = owner(&mut client).await;
    let phone = client
        .create_phone(pb::CreatePhoneRequest {
            producer_id: producer.id.clone(),
            phone: Some(cell_phone()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let stale = producer.etag.clone();
    let update = client
        .update_phone(pb::UpdatePhoneRequest {
            request_id: String::new(),
            producer_id: producer.id.clone(),
            phone_id: phone.id.clone(),
            phone: Some(pb::Phone {
                preferred: true,
                ..Default::default()
            }),
            update_mask: update_mask(&["preferred"]),
            producer_etag: stale.clone(),
        })
        .await
        .unwrap_err();
    let delete = client
        .delete_phone(pb::DeletePhoneRequest {
            request_id: String::new(),
            producer_id: producer.id.clone(),
            phone_id: phone.id.clone(),
            producer_etag: stale,
        })
        .await
        .unwrap_err();
    assert_eq!(
        (update.code(), delete.code()),
        (Code::Aborted, Code::Aborted)
    );
    let still = client
        .get_phone(pb::GetPhoneRequest {
            producer_id: producer.id.clone(),
            phone_id: phone.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(still, phone);
    // With the current etag both go through.
    client
        .delete_phone(pb::DeletePhoneRequest {
            request_id: String::new(),
            producer_id: producer.id,
            phone_id: phone.id,
            producer_etag: phone.producer_etag,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_child_update_that_changes_nothing_keeps_the_producer_version() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let producer = owner(&mut client).await;
    let address = client
        .create_address(pb::CreateAddressRequest {
            producer_id: producer.id.clone(),
            address: Some(mailing_address()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let same = client
        .update_address(pb::UpdateAddressRequest {
            request_id: String::new(),
            producer_id: producer.id.clone(),
            address_id: address.id.clone(),
            address: Some(pb::Address {
                city: "Springfield".into(),
                ..Default::default()
            }),
            update_mask: update_mask(&["city"]),
            producer_etag: address.producer_etag.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(same, address);
}

#[tokio::test]
async fn naming_the_account_number_in_a_mask_requires_a_new_one() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let producer = owner(&mut client).await;
    let account = client
        .create_bank_account(pb::CreateBankAccountRequest {
            producer_id: producer.id.clone(),
            bank_account: Some(checking_account()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let status = client
        .update_bank_account(pb::UpdateBankAccountRequest {
            request_id: String::new(),
            producer_id: producer.id,
            bank_account_id: account.id,
            bank_account: Some(pb::BankAccount::default()),
            update_mask: update_mask(&["number"]),
            producer_etag: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["bank_account.number"]);
}

#[tokio::test]
async fn a_listing_token_only_works_for_its_own_resource_and_producer() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let producer = owner(&mut client).await;
    for _ in 0..2 {
        client
            .create_address(pb::CreateAddressRequest {
                producer_id: producer.id.clone(),
                address: Some(mailing_address()),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let page = client
        .list_addresses(pb::ListAddressesRequest {
            producer_id: producer.id.clone(),
            page_size: 1,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let as_phones = client
        .list_phones(pb::ListPhonesRequest {
            producer_id: producer.id.clone(),
            page_size: 1,
            page_token: page.next_page_token,
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&as_phones), ["page_token"]);
}

#[tokio::test]
async fn concurrent_replays_of_a_bank_account_create_make_one_account() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let producer = owner(&mut client).await;
    let request = pb::CreateBankAccountRequest {
        producer_id: producer.id.clone(),
        bank_account: Some(checking_account()),
        producer_etag: String::new(),
        request_id: "payroll-account".into(),
    };
    let attempts: Vec<_> = (0..4)
        .map(|_| {
            let mut client = client.clone();
            let request = request.clone();
            tokio::spawn(async move { client.create_bank_account(request).await })
        })
        .collect();
    let mut ids = Vec::new();
    for attempt in attempts {
        ids.push(attempt.await.unwrap().unwrap().into_inner().id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1);
    let other_number = pb::CreateBankAccountRequest {
        bank_account: Some(pb::BankAccount {
            number: "999988887777".into(),
            ..checking_account()
        }),
        ..request.clone()
    };
    let refused = client.create_bank_account(other_number).await.unwrap_err();
    assert_eq!(violated_fields(&refused), ["request_id"]);
    let listed = client
        .list_bank_accounts(pb::ListBankAccountsRequest {
            producer_id: producer.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.bank_accounts.len(), 1);

    // Another OAuth client of the account has keys of its own: same key, new account.
    let other_client = TokenSpec::new("ACME", ALL_PRODUCER_SCOPES)
        .with_claim("client_id", "other-app".into())
        .sign();
    let mut other = server.client(&other_client).await;
    let separate = other
        .create_bank_account(request)
        .await
        .unwrap()
        .into_inner();
    assert_ne!(separate.id, ids[0]);
}

#[tokio::test]
async fn concurrent_preferred_addresses_of_one_type_leave_one_preferred() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let producer = owner(&mut client).await;
    let creates: Vec<_> = (0..5)
        .map(|n| {
            let mut client = client.clone();
            let address_type = if n % 2 == 0 {
                pb::AddressType::Mailing
            } else {
                pb::AddressType::Billing
            };
            let request = pb::CreateAddressRequest {
                producer_id: producer.id.clone(),
                address: Some(pb::Address {
                    preferred: true,
                    r#type: address_type as i32,
                    ..mailing_address()
                }),
                ..Default::default()
            };
            tokio::spawn(async move { client.create_address(request).await })
        })
        .collect();
    for create in creates {
        create.await.unwrap().unwrap();
    }
    let listed = client
        .list_addresses(pb::ListAddressesRequest {
            producer_id: producer.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    for address_type in [pb::AddressType::Mailing, pb::AddressType::Billing] {
        let preferred = listed
            .addresses
            .iter()
            .filter(|a| a.preferred && a.r#type == address_type as i32)
            .count();
        assert_eq!(preferred, 1, "{address_type:?}");
    }
}
