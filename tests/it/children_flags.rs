//! Preferred and primary flags: at most one holder, switched in one transaction (both
//! rows change and the producer's version moves by two), even under concurrent requests.

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

async fn addresses(client: &mut Client, producer: &str) -> Vec<pb::Address> {
    client
        .list_addresses(pb::ListAddressesRequest {
            producer_id: producer.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .addresses
}

#[tokio::test]
async fn making_an_address_preferred_clears_the_previous_one_of_its_type_only() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let producer = owner(&mut client).await;
    let add = |address: pb::Address| pb::CreateAddressRequest {
        producer_id: producer.id.clone(),
        address: Some(address),
        ..Default::default()
    };
    let first = client
        .create_address(add(pb::Address {
            preferred: true,
            ..mailing_address()
        }))
        .await
        .unwrap()
        .into_inner();
    let business = pb::Address {
        preferred: true,
        r#type: pb::AddressType::Business as i32,
        ..mailing_address()
    };
    client.create_address(add(business)).await.unwrap();
    assert_eq!(first.producer_version, 2);

    let second = client
        .create_address(add(pb::Address {
            preferred: true,
            ..mailing_address()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        second.producer_version, 5,
        "two resources changed: the new address and the one un-preferred"
    );
    let all = addresses(&mut client, &producer.id).await;
    let preferred: Vec<_> = all
        .iter()
        .filter(|a| a.preferred)
        .map(|a| (a.id.clone(), a.r#type))
        .collect();
    assert_eq!(
        preferred,
        [
            (all[1].id.clone(), pb::AddressType::Business as i32),
            (second.id.clone(), pb::AddressType::Mailing as i32)
        ]
    );
    let old = all.iter().find(|a| a.id == first.id).unwrap();
    assert!(!old.preferred);
    assert!(
        time_of(&old.update_time) > time_of(&first.update_time),
        "the cleared address changed too"
    );
}

#[tokio::test]
async fn concurrent_make_preferred_calls_leave_exactly_one_preferred() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let producer = owner(&mut client).await;
    let mut phones = Vec::new();
    for n in 0..6 {
        let phone = pb::Phone {
            number: format!("+1415555010{n}"),
            ..cell_phone()
        };
        let created = client
            .create_phone(pb::CreatePhoneRequest {
                producer_id: producer.id.clone(),
                phone: Some(phone),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        phones.push(created.id);
    }
    let calls: Vec<_> = phones
        .iter()
        .map(|phone_id| {
            let mut client = client.clone();
            let request = pb::UpdatePhoneRequest {
                request_id: String::new(),
                producer_id: producer.id.clone(),
                phone_id: phone_id.clone(),
                phone: Some(pb::Phone {
                    preferred: true,
                    ..Default::default()
                }),
                update_mask: update_mask(&["preferred"]),
                producer_etag: String::new(),
            };
            tokio::spawn(async move { client.update_phone(request).await })
        })
        .collect();
    for call in calls {
        call.await
            .unwrap()
            .expect("every call succeeds, serialised on the producer");
    }
    let listed = client
        .list_phones(pb::ListPhonesRequest {
            producer_id: producer.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.phones.iter().filter(|p| p.preferred).count(), 1);
}

#[tokio::test]
async fn concurrent_primary_bank_accounts_leave_exactly_one_primary() {
    let server = TestServer::start().await;
    let client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let producer = owner(&mut client.clone()).await;
    let creates: Vec<_> = (0..5)
        .map(|_| {
            let mut client = client.clone();
            let request = pb::CreateBankAccountRequest {
                producer_id: producer.id.clone(),
                bank_account: Some(pb::BankAccount {
                    primary_account: true,
                    ..checking_account()
                }),
                ..Default::default()
            };
            tokio::spawn(async move { client.create_bank_account(request).await })
        })
        .collect();
    let mut versions = Vec::new();
    for create in creates {
        versions.push(create.await.unwrap().unwrap().into_inner().producer_version);
    }
    versions.sort_unstable();
    // 1 (producer) + 1 for the first account, then +2 for each later one (itself and the
    // account that lost the flag): versions 2, 4, 6, 8, 10 in some order.
    assert_eq!(versions, [2, 4, 6, 8, 10]);
    let listed = client
        .clone()
        .list_bank_accounts(pb::ListBankAccountsRequest {
            producer_id: producer.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.bank_accounts.len(), 5);
    assert_eq!(
        listed
            .bank_accounts
            .iter()
            .filter(|b| b.primary_account)
            .count(),
        1
    );
}

#[tokio::test]
async fn changing_the_type_of_a_preferred_address_clears_the_preferred_of_the_new_type() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let producer = owner(&mut client).await;
    let add = |address: pb::Address| pb::CreateAddressRequest {
        producer_id: producer.id.clone(),
        address: Some(address),
        ..Default::default()
    };
    let billing = pb::Address {
        preferred: true,
        r#type: pb::AddressType::Billing as i32,
        ..mailing_address()
    };
    let billing = client
        .create_address(add(billing))
        .await
        .unwrap()
        .into_inner();
    let mailing = client
        .create_address(add(pb::Address {
            preferred: true,
            ..mailing_address()
        }))
        .await
        .unwrap()
        .into_inner();
    client
        .update_address(pb::UpdateAddressRequest {
            request_id: String::new(),
            producer_id: producer.id.clone(),
            address_id: mailing.id.clone(),
            address: Some(pb::Address {
                r#type: pb::AddressType::Billing as i32,
                ..Default::default()
            }),
            update_mask: update_mask(&["type"]),
            producer_etag: String::new(),
        })
        .await
        .unwrap();
    let all = addresses(&mut client, &producer.id).await;
    let preferred: Vec<_> = all
        .iter()
        .filter(|a| a.preferred)
        .map(|a| a.id.clone())
        .collect();
    assert_eq!(preferred, [mailing.id]);
    assert!(!all.iter().find(|a| a.id == billing.id).unwrap().preferred);
}
