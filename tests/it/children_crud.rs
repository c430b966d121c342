//! Every child RPC's success path, the producer's version moving with each change, the
//! producer etag guarding child writes, and children going with their producer.

use tonic::Code;

use producer_profile::proto::v1 as pb;

use crate::support::server::Client;
use crate::support::*;

async fn producer(client: &mut Client) -> pb::Producer {
    client
        .create_producer(create(individual("1")))
        .await
        .unwrap()
        .into_inner()
}

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    update_mask(paths)
}

#[tokio::test]
async fn an_address_is_created_read_listed_updated_and_deleted() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let owner = producer(&mut client).await;

    let created = client
        .create_address(pb::CreateAddressRequest {
            producer_id: owner.id.clone(),
            address: Some(mailing_address()),
            producer_etag: owner.etag.clone(),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (created.state.as_str(), created.country.as_str()),
        ("IL", "US")
    );
    assert_eq!(
        (created.producer_version, created.producer_etag.as_str()),
        (2, "2")
    );
    assert_eq!(created.producer_id, owner.id);

    let read = client
        .get_address(pb::GetAddressRequest {
            producer_id: owner.id.clone(),
            address_id: created.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, created);

    let listed = client
        .list_addresses(pb::ListAddressesRequest {
            producer_id: owner.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.addresses, vec![created.clone()]);

    let updated = client
        .update_address(pb::UpdateAddressRequest {
            request_id: String::new(),
            producer_id: owner.id.clone(),
            address_id: created.id.clone(),
            address: Some(pb::Address {
                city: "Chicago".into(),
                zip: "60601-1234".into(),
                ..Default::default()
            }),
            update_mask: mask(&["city", "zip"]),
            producer_etag: created.producer_etag.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            updated.city.as_str(),
            updated.zip.as_str(),
            updated.address_line1.as_str()
        ),
        ("Chicago", "60601-1234", "1 Main St")
    );
    assert_eq!(updated.producer_version, 3);

    let deleted = client
        .delete_address(pb::DeleteAddressRequest {
            request_id: String::new(),
            producer_id: owner.id.clone(),
            address_id: created.id.clone(),
            producer_etag: updated.producer_etag.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deleted.producer_version, 4);
    let gone = client
        .get_address(pb::GetAddressRequest {
            producer_id: owner.id.clone(),
            address_id: created.id,
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    let owner_now = client
        .get_producer(by_id(owner.id.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        owner_now.version, 4,
        "every child change moved the producer's version"
    );
}

#[tokio::test]
async fn a_phone_is_normalised_and_managed() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let owner = producer(&mut client).await;
    let created = client
        .create_phone(pb::CreatePhoneRequest {
            producer_id: owner.id.clone(),
            phone: Some(cell_phone()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.number, "+14155550132");
    let updated = client
        .update_phone(pb::UpdatePhoneRequest {
            request_id: String::new(),
            producer_id: owner.id.clone(),
            phone_id: created.id.clone(),
            phone: Some(pb::Phone {
                extension: "123456".into(),
                ..Default::default()
            }),
            update_mask: mask(&["extension"]),
            producer_etag: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (updated.extension.as_str(), updated.number.as_str()),
        ("123456", "+14155550132")
    );
    let listed = client
        .list_phones(pb::ListPhonesRequest {
            producer_id: owner.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.phones, vec![updated.clone()]);
    client
        .get_phone(pb::GetPhoneRequest {
            producer_id: owner.id.clone(),
            phone_id: created.id.clone(),
        })
        .await
        .unwrap();
    client
        .delete_phone(pb::DeletePhoneRequest {
            request_id: String::new(),
            producer_id: owner.id.clone(),
            phone_id: created.id,
            producer_etag: String::new(),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_bank_account_reads_back_masked_with_its_computed_name() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let owner = producer(&mut client).await;
    let created = client
        .create_bank_account(pb::CreateBankAccountRequest {
            producer_id: owner.id.clone(),
            bank_account: Some(checking_account()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.number, "****6789");
    assert_eq!(
        created.name,
        "Voided check for First Bank Checking Account ****6789"
    );

    // An update that does not name `number` keeps it; one that does replaces it.
    let renamed = client
        .update_bank_account(pb::UpdateBankAccountRequest {
            request_id: String::new(),
            producer_id: owner.id.clone(),
            bank_account_id: created.id.clone(),
            bank_account: Some(pb::BankAccount {
                nickname: "Payroll".into(),
                r#type: pb::BankAccountType::Savings as i32,
                ..Default::default()
            }),
            update_mask: mask(&["nickname", "type"]),
            producer_etag: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(renamed.number, "****6789");
    assert_eq!(
        renamed.name,
        "Voided check for First Bank Savings Account ****6789"
    );
    let renumbered = client
        .update_bank_account(pb::UpdateBankAccountRequest {
            request_id: String::new(),
            producer_id: owner.id.clone(),
            bank_account_id: created.id.clone(),
            bank_account: Some(pb::BankAccount {
                number: "99991234".into(),
                ..Default::default()
            }),
            update_mask: mask(&["number"]),
            producer_etag: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(renumbered.number, "****1234");

    let listed = client
        .list_bank_accounts(pb::ListBankAccountsRequest {
            producer_id: owner.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.bank_accounts, vec![renumbered.clone()]);
    let read = client
        .get_bank_account(pb::GetBankAccountRequest {
            producer_id: owner.id.clone(),
            bank_account_id: created.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, renumbered);
    client
        .delete_bank_account(pb::DeleteBankAccountRequest {
            request_id: String::new(),
            producer_id: owner.id,
            bank_account_id: created.id,
            producer_etag: String::new(),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn an_insurance_policy_carries_its_name_and_exact_limit() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let owner = producer(&mut client).await;
    let created = client
        .create_insurance_policy(pb::CreateInsurancePolicyRequest {
            producer_id: owner.id.clone(),
            insurance_policy: Some(pb::InsurancePolicy {
                total_limit: "2500000.5".into(),
                ..eo_policy()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.name, "Acme Mutual: EO-123");
    assert_eq!(created.total_limit, "2500000.50");
    let updated = client
        .update_insurance_policy(pb::UpdateInsurancePolicyRequest {
            request_id: String::new(),
            producer_id: owner.id.clone(),
            insurance_policy_id: created.id.clone(),
            insurance_policy: Some(pb::InsurancePolicy {
                expiry: "2028-01-01".into(),
                total_limit: "10000000".into(),
                ..Default::default()
            }),
            update_mask: mask(&["expiry", "total_limit"]),
            producer_etag: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (updated.expiry.as_str(), updated.total_limit.as_str()),
        ("2028-01-01", "10000000.00")
    );
    let listed = client
        .list_insurance_policies(pb::ListInsurancePoliciesRequest {
            producer_id: owner.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.insurance_policies, vec![updated.clone()]);
    client
        .get_insurance_policy(pb::GetInsurancePolicyRequest {
            producer_id: owner.id.clone(),
            insurance_policy_id: created.id.clone(),
        })
        .await
        .unwrap();
    client
        .delete_insurance_policy(pb::DeleteInsurancePolicyRequest {
            request_id: String::new(),
            producer_id: owner.id,
            insurance_policy_id: created.id,
            producer_etag: String::new(),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_child_write_with_a_stale_producer_etag_is_aborted_and_writes_nothing() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let owner = producer(&mut client).await;
    client
        .create_phone(pb::CreatePhoneRequest {
            producer_id: owner.id.clone(),
            phone: Some(cell_phone()),
            producer_etag: owner.etag.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let stale = client
        .create_address(pb::CreateAddressRequest {
            producer_id: owner.id.clone(),
            address: Some(mailing_address()),
            producer_etag: owner.etag.clone(),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let listed = client
        .list_addresses(pb::ListAddressesRequest {
            producer_id: owner.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(listed.addresses.is_empty());
}

#[tokio::test]
async fn the_full_view_returns_the_producer_with_every_child() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let owner = producer(&mut client).await;
    let id = owner.id.clone();
    client
        .create_address(pb::CreateAddressRequest {
            producer_id: id.clone(),
            address: Some(mailing_address()),
            ..Default::default()
        })
        .await
        .unwrap();
    client
        .create_phone(pb::CreatePhoneRequest {
            producer_id: id.clone(),
            phone: Some(cell_phone()),
            ..Default::default()
        })
        .await
        .unwrap();
    client
        .create_bank_account(pb::CreateBankAccountRequest {
            producer_id: id.clone(),
            bank_account: Some(checking_account()),
            ..Default::default()
        })
        .await
        .unwrap();
    client
        .create_insurance_policy(pb::CreateInsurancePolicyRequest {
            producer_id: id.clone(),
            insurance_policy: Some(eo_policy()),
            ..Default::default()
        })
        .await
        .unwrap();

    let full = client
        .get_producer(pb::GetProducerRequest {
            id: id.clone(),
            view: pb::ProducerView::Full as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(full.version, 5);
    assert_eq!(
        (
            full.addresses.len(),
            full.phones.len(),
            full.bank_accounts.len(),
            full.insurance_policies.len()
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(full.bank_accounts[0].number, "****6789");
    assert!(full.addresses.iter().all(|a| a.producer_version == 5));
    let basic = client.get_producer(by_id(id)).await.unwrap().into_inner();
    assert!(basic.addresses.is_empty() && basic.bank_accounts.is_empty());
}

#[tokio::test]
async fn deleting_a_producer_deletes_its_children() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let owner = producer(&mut client).await;
    let id = owner.id.clone();
    client
        .create_address(pb::CreateAddressRequest {
            producer_id: id.clone(),
            address: Some(mailing_address()),
            ..Default::default()
        })
        .await
        .unwrap();
    client
        .create_bank_account(pb::CreateBankAccountRequest {
            producer_id: id.clone(),
            bank_account: Some(checking_account()),
            ..Default::default()
        })
        .await
        .unwrap();
    client
        .delete_producer(pb::DeleteProducerRequest {
            request_id: String::new(),
            id: id.clone(),
            etag: String::new(),
        })
        .await
        .unwrap();
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let left: Count = diesel::sql_query(
        "SELECT (SELECT count(*) FROM addresses) + (SELECT count(*) FROM phones) \
         + (SELECT count(*) FROM bank_accounts) + (SELECT count(*) FROM insurance_policies) AS n",
    )
    .get_result(&mut server.db.connect())
    .unwrap();
    assert_eq!(left.n, 0);
    let status = client
        .list_addresses(pb::ListAddressesRequest {
            producer_id: id,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn child_lists_page_through_every_child_once() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let owner = producer(&mut client).await;
    for n in 0..5 {
        let phone = pb::Phone {
            number: format!("+1415555010{n}"),
            ..cell_phone()
        };
        client
            .create_phone(pb::CreatePhoneRequest {
                producer_id: owner.id.clone(),
                phone: Some(phone),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_phones(pb::ListPhonesRequest {
                producer_id: owner.id.clone(),
                page_size: 2,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.phones.len() <= 2);
        seen.extend(page.phones.into_iter().map(|p| p.number));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        seen,
        (0..5)
            .map(|n| format!("+1415555010{n}"))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_replayed_child_create_returns_the_first_child() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let owner = producer(&mut client).await;
    let request = pb::CreateAddressRequest {
        producer_id: owner.id.clone(),
        address: Some(mailing_address()),
        producer_etag: owner.etag.clone(),
        request_id: "address-1".into(),
    };
    let first = client
        .create_address(request.clone())
        .await
        .unwrap()
        .into_inner();
    let replay = client
        .create_address(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        replay.id, first.id,
        "a retry with the (now stale) etag still replays"
    );
    let other = pb::CreateAddressRequest {
        address: Some(pb::Address {
            city: "Peoria".into(),
            ..mailing_address()
        }),
        ..request
    };
    let refused = client.create_address(other).await.unwrap_err();
    assert_eq!(violated_fields(&refused), ["request_id"]);
}
