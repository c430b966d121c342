//! Every child rule through the API: each bad value refused with its field named (all at
//! once), each good form accepted and stored normalised.

use chrono::{Days, Utc};

use producer_profile::proto::v1 as pb;

use crate::support::server::Client;
use crate::support::*;

async fn owner(client: &mut Client) -> String {
    client
        .create_producer(create(firm("1")))
        .await
        .unwrap()
        .into_inner()
        .id
}

async fn address_violations(
    client: &mut Client,
    producer: &str,
    address: pb::Address,
) -> Vec<String> {
    let status = client
        .create_address(pb::CreateAddressRequest {
            producer_id: producer.into(),
            address: Some(address),
            ..Default::default()
        })
        .await
        .unwrap_err();
    violated_fields(&status)
}

fn tomorrow() -> String {
    (Utc::now().date_naive() + Days::new(1))
        .format("%Y-%m-%d")
        .to_string()
}

#[tokio::test]
async fn address_rules() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let producer = owner(&mut client).await;
    let base = mailing_address;
    let cases: Vec<(pb::Address, Vec<&str>)> = vec![
        (
            pb::Address {
                state: "XX".into(),
                ..base()
            },
            vec!["address.state"],
        ),
        (
            pb::Address {
                state: "".into(),
                zip: "".into(),
                ..base()
            },
            vec!["address.state", "address.zip"],
        ),
        (
            pb::Address {
                zip: "1234".into(),
                ..base()
            },
            vec!["address.zip"],
        ),
        (
            pb::Address {
                zip: "12345-67".into(),
                ..base()
            },
            vec!["address.zip"],
        ),
        (
            pb::Address {
                country: "USA".into(),
                ..base()
            },
            vec!["address.country"],
        ),
        (
            pb::Address {
                r#type: 0,
                ..base()
            },
            vec!["address.type"],
        ),
        (
            pb::Address {
                r#type: 9,
                ..base()
            },
            vec!["address.type"],
        ),
        (
            pb::Address {
                address_line1: " ".into(),
                city: "".into(),
                ..base()
            },
            vec!["address.address_line1", "address.city"],
        ),
        (
            pb::Address {
                move_in_date: tomorrow(),
                ..base()
            },
            vec!["address.move_in_date"],
        ),
        (
            pb::Address {
                move_in_date: "2020-02-30".into(),
                ..base()
            },
            vec!["address.move_in_date"],
        ),
    ];
    for (address, fields) in cases {
        assert_eq!(
            address_violations(&mut client, &producer, address).await,
            fields
        );
    }
    let accepted = [
        pb::Address {
            state: "pr".into(),
            zip: "00901-1234".into(),
            ..base()
        },
        pb::Address {
            country: "gb".into(),
            state: "".into(),
            zip: "SW1A 1AA".into(),
            ..base()
        },
        pb::Address {
            country: "DE".into(),
            state: "Bayern".into(),
            zip: "".into(),
            ..base()
        },
        pb::Address {
            move_in_date: Utc::now().date_naive().format("%Y-%m-%d").to_string(),
            ..base()
        },
    ];
    for address in accepted {
        client
            .create_address(pb::CreateAddressRequest {
                producer_id: producer.clone(),
                address: Some(address),
                ..Default::default()
            })
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn phone_rules() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let producer = owner(&mut client).await;
    let cases: Vec<(pb::Phone, Vec<&str>)> = vec![
        (
            pb::Phone {
                extension: "1234567".into(),
                ..cell_phone()
            },
            vec!["phone.extension"],
        ),
        (
            pb::Phone {
                extension: "12a".into(),
                ..cell_phone()
            },
            vec!["phone.extension"],
        ),
        (
            pb::Phone {
                number: "555-0132".into(),
                ..cell_phone()
            },
            vec!["phone.number"],
        ),
        (
            pb::Phone {
                number: "(115) 555-0132".into(),
                ..cell_phone()
            },
            vec!["phone.number"],
        ),
        (
            pb::Phone {
                number: "".into(),
                r#type: 0,
                ..cell_phone()
            },
            vec!["phone.number", "phone.type"],
        ),
    ];
    for (phone, fields) in cases {
        let status = client
            .create_phone(pb::CreatePhoneRequest {
                producer_id: producer.clone(),
                phone: Some(phone),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), fields);
    }
    for (written, stored) in [
        ("+44 20 7946 0958", "+442079460958"),
        ("1-212-555-0100", "+12125550100"),
    ] {
        let phone = pb::Phone {
            number: written.into(),
            extension: "123456".into(),
            ..cell_phone()
        };
        let created = client
            .create_phone(pb::CreatePhoneRequest {
                producer_id: producer.clone(),
                phone: Some(phone),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(created.number, stored);
    }
}

#[tokio::test]
async fn bank_account_rules() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let producer = owner(&mut client).await;
    let cases: Vec<(pb::BankAccount, Vec<&str>)> = vec![
        (
            pb::BankAccount {
                routing_number: "021000022".into(),
                ..checking_account()
            },
            vec!["bank_account.routing_number"],
        ),
        (
            pb::BankAccount {
                routing_number: "02100002".into(),
                ..checking_account()
            },
            vec!["bank_account.routing_number"],
        ),
        (
            pb::BankAccount {
                number: "123".into(),
                ..checking_account()
            },
            vec!["bank_account.number"],
        ),
        (
            pb::BankAccount {
                number: "1".repeat(18),
                ..checking_account()
            },
            vec!["bank_account.number"],
        ),
        (
            pb::BankAccount {
                number: "".into(),
                ..checking_account()
            },
            vec!["bank_account.number"],
        ),
        (
            pb::BankAccount {
                nickname: "n".repeat(51),
                ..checking_account()
            },
            vec!["bank_account.nickname"],
        ),
        (
            pb::BankAccount {
                holder_name: "".into(),
                bank_name: "".into(),
                r#type: 0,
                ..checking_account()
            },
            vec![
                "bank_account.bank_name",
                "bank_account.holder_name",
                "bank_account.type",
            ],
        ),
    ];
    for (account, fields) in cases {
        let status = client
            .create_bank_account(pb::CreateBankAccountRequest {
                producer_id: producer.clone(),
                bank_account: Some(account),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), fields);
        assert!(
            !status.message().contains("000123456789"),
            "the number is never echoed"
        );
    }
    for number in ["1234", "12345678901234567"] {
        let account = pb::BankAccount {
            number: number.into(),
            nickname: "n".repeat(50),
            ..checking_account()
        };
        let created = client
            .create_bank_account(pb::CreateBankAccountRequest {
                producer_id: producer.clone(),
                bank_account: Some(account),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            created.number,
            format!("****{}", &number[number.len() - 4..])
        );
    }
}

#[tokio::test]
async fn insurance_policy_rules() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let producer = owner(&mut client).await;
    let base = eo_policy;
    let cases: Vec<(pb::InsurancePolicy, Vec<&str>)> = vec![
        (
            pb::InsurancePolicy {
                total_limit: "0".into(),
                ..base()
            },
            vec!["insurance_policy.total_limit"],
        ),
        (
            pb::InsurancePolicy {
                total_limit: "10000000.01".into(),
                ..base()
            },
            vec!["insurance_policy.total_limit"],
        ),
        (
            pb::InsurancePolicy {
                total_limit: "1e6".into(),
                ..base()
            },
            vec!["insurance_policy.total_limit"],
        ),
        (
            pb::InsurancePolicy {
                total_limit: "1.005".into(),
                ..base()
            },
            vec!["insurance_policy.total_limit"],
        ),
        (
            pb::InsurancePolicy {
                expiry: "2025-12-31".into(),
                ..base()
            },
            vec!["insurance_policy.expiry"],
        ),
        (
            pb::InsurancePolicy {
                expiry: "2026-01-01".into(),
                ..base()
            },
            vec!["insurance_policy.expiry"],
        ),
        (
            pb::InsurancePolicy {
                effective_date: "".into(),
                expiry: "".into(),
                ..base()
            },
            vec!["insurance_policy.effective_date", "insurance_policy.expiry"],
        ),
        (
            pb::InsurancePolicy {
                carrier: "".into(),
                policy_number: "".into(),
                r#type: 0,
                ..base()
            },
            vec![
                "insurance_policy.carrier",
                "insurance_policy.policy_number",
                "insurance_policy.type",
            ],
        ),
    ];
    for (policy, fields) in cases {
        let status = client
            .create_insurance_policy(pb::CreateInsurancePolicyRequest {
                producer_id: producer.clone(),
                insurance_policy: Some(policy),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), fields);
    }
    for (limit, stored) in [("1.0", "1.00"), ("10000000", "10000000.00"), ("", "")] {
        let policy = pb::InsurancePolicy {
            total_limit: limit.into(),
            ..base()
        };
        let created = client
            .create_insurance_policy(pb::CreateInsurancePolicyRequest {
                producer_id: producer.clone(),
                insurance_policy: Some(policy),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(created.total_limit, stored);
    }
}

#[tokio::test]
async fn child_updates_are_held_to_the_same_rules_and_name_bad_masks() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let producer = owner(&mut client).await;
    let policy = client
        .create_insurance_policy(pb::CreateInsurancePolicyRequest {
            producer_id: producer.clone(),
            insurance_policy: Some(eo_policy()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let update = |paths: &[&str], patch: pb::InsurancePolicy| pb::UpdateInsurancePolicyRequest {
        request_id: String::new(),
        producer_id: producer.clone(),
        insurance_policy_id: policy.id.clone(),
        insurance_policy: Some(patch),
        update_mask: update_mask(paths),
        producer_etag: String::new(),
    };
    let before_effective = client
        .update_insurance_policy(update(
            &["expiry"],
            pb::InsurancePolicy {
                expiry: "2025-06-01".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&before_effective),
        ["insurance_policy.expiry"]
    );
    let unknown = client
        .update_insurance_policy(update(&["name", "premium"], pb::InsurancePolicy::default()))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&unknown), ["update_mask", "update_mask"]);
    let bad_ids = client
        .get_insurance_policy(pb::GetInsurancePolicyRequest {
            producer_id: "x".into(),
            insurance_policy_id: "y".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&bad_ids),
        ["producer_id", "insurance_policy_id"]
    );
    let everything = client
        .update_insurance_policy(update(
            &["*"],
            pb::InsurancePolicy {
                carrier: "Other".into(),
                ..eo_policy()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(everything.name, "Other: EO-123");
}
