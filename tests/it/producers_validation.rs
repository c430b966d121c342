//! Every producer rule of the domain, through the API: each bad value is refused with
//! INVALID_ARGUMENT naming its field (and nothing is written); each good form is accepted.

use chrono::{Days, Months, Utc};
use tonic::Code;

use pb::producer::Details;
use producer_profile::proto::v1 as pb;

use crate::support::*;

type Change = fn(&mut pb::Individual);
/// Asserts what an accepted input was stored as.
type Check = fn(&pb::Producer);

fn date(days_from_today: i64) -> String {
    let today = Utc::now().date_naive();
    let day = if days_from_today >= 0 {
        today + Days::new(days_from_today as u64)
    } else {
        today - Days::new(days_from_today.unsigned_abs())
    };
    day.format("%Y-%m-%d").to_string()
}

fn too_old() -> String {
    let oldest = Utc::now().date_naive() - Months::new(12 * 130);
    (oldest - Days::new(1)).format("%Y-%m-%d").to_string()
}

/// A syntactically valid address (DNS labels of at most 63) of exactly `length` (≥ 200).
fn email_of_length(length: usize) -> String {
    let domain_len = length - 65;
    let last_label = domain_len - 4 - 2 * 61;
    format!(
        "{}@{}.{}.{}.com",
        "a".repeat(64),
        "b".repeat(60),
        "c".repeat(60),
        "d".repeat(last_label)
    )
}

fn individual_with(change: impl FnOnce(&mut pb::Individual)) -> pb::Producer {
    let mut producer = individual("100");
    change(person_mut(&mut producer));
    producer
}

fn firm_with(change: impl FnOnce(&mut pb::Firm)) -> pb::Producer {
    let mut producer = firm("200");
    if let Some(Details::Firm(firm)) = &mut producer.details {
        change(firm);
    }
    producer
}

#[tokio::test]
async fn each_bad_individual_field_is_refused_by_name_and_nothing_is_written() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let cases: Vec<(&str, Change)> = vec![
        ("producer.individual.first_name", |p| {
            p.first_name = "  ".into()
        }),
        ("producer.individual.first_name", |p| {
            p.first_name = "A".repeat(101)
        }),
        ("producer.individual.last_name", |p| p.last_name.clear()),
        ("producer.individual.last_name", |p| {
            p.last_name = "Love\u{7}lace".into()
        }),
        ("producer.individual.middle_name", |p| {
            p.middle_name = "M".repeat(101)
        }),
        ("producer.individual.suffix", |p| p.suffix = "J".repeat(101)),
        ("producer.individual.title", |p| p.title = "T".repeat(101)),
        ("producer.individual.gender", |p| p.gender = 99),
        ("producer.individual.date_of_birth", |p| {
            p.date_of_birth = "1985-02-30".into()
        }),
        ("producer.individual.date_of_birth", |p| {
            p.date_of_birth = "12/10/1985".into()
        }),
        ("producer.individual.date_of_birth", |p| {
            p.date_of_birth = date(1)
        }),
        ("producer.individual.date_of_birth", |p| {
            p.date_of_birth = too_old()
        }),
        ("producer.individual.ssn", |p| p.ssn = "12345678".into()),
        ("producer.individual.ssn", |p| p.ssn = "123 45 6789".into()),
        ("producer.individual.ssn", |p| p.ssn = "000-12-3456".into()),
        ("producer.individual.ssn", |p| p.ssn = "666-12-3456".into()),
        ("producer.individual.ssn", |p| p.ssn = "912-34-5678".into()),
        ("producer.individual.ssn", |p| p.ssn = "123-00-4567".into()),
        ("producer.individual.ssn", |p| p.ssn = "123-45-0000".into()),
        ("producer.individual.ssn_last4", |p| {
            p.ssn_last4 = "67890".into()
        }),
        ("producer.individual.ssn_last4", |p| {
            p.ssn_last4 = "1111".into()
        }),
        ("producer.individual.finra_crd_number", |p| {
            p.finra_crd_number = "12345678901".into()
        }),
        ("producer.individual.finra_crd_number", |p| {
            p.finra_crd_number = "12-34".into()
        }),
        ("producer.individual.primary_email", |p| {
            p.primary_email = "ada.example.com".into()
        }),
        ("producer.individual.secondary_email", |p| {
            p.secondary_email = email_of_length(255)
        }),
    ];
    for (field, change) in cases {
        let status = client
            .create_producer(create(individual_with(change)))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), [field], "{status:?}");
    }
    let written = client
        .list_producers(pb::ListProducersRequest::default())
        .await
        .unwrap();
    assert!(written.into_inner().producers.is_empty());
}

#[tokio::test]
async fn each_bad_firm_field_and_a_bad_npn_are_refused_by_name() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let cases: Vec<(&str, pb::Producer)> = vec![
        ("producer.firm.name", firm_with(|f| f.name.clear())),
        (
            "producer.firm.business_type",
            firm_with(|f| f.business_type = 42),
        ),
        (
            "producer.firm.email",
            firm_with(|f| f.email = "office@".into()),
        ),
        (
            "producer.firm.fein",
            firm_with(|f| f.fein = "123-456789".into()),
        ),
        (
            "producer.firm.fein",
            firm_with(|f| f.fein = "12345678".into()),
        ),
        (
            "producer.firm.finra_crd_number",
            firm_with(|f| f.finra_crd_number = "x".into()),
        ),
        (
            "producer.npn",
            pb::Producer {
                npn: "".into(),
                ..firm("1")
            },
        ),
        (
            "producer.npn",
            pb::Producer {
                npn: "12345678901".into(),
                ..firm("1")
            },
        ),
        (
            "producer.npn",
            pb::Producer {
                npn: "12a".into(),
                ..firm("1")
            },
        ),
        (
            "producer.details",
            pb::Producer {
                details: None,
                ..firm("1")
            },
        ),
    ];
    for (field, producer) in cases {
        let status = client.create_producer(create(producer)).await.unwrap_err();
        assert_eq!(violated_fields(&status), [field], "{status:?}");
    }
}

#[tokio::test]
async fn every_violation_is_named_in_one_answer() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let mut producer = individual_with(|p| {
        p.first_name.clear();
        p.ssn = "666-00-0000".into();
        p.primary_email = "nope".into();
    });
    producer.npn = "abc".into();
    let status = client
        .create_producer(pb::CreateProducerRequest {
            producer: Some(producer),
            request_id: "has spaces".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&status),
        [
            "producer.npn",
            "producer.individual.first_name",
            "producer.individual.ssn",
            "producer.individual.primary_email",
            "request_id",
        ]
    );
    assert!(
        !status.message().contains("666-00-0000"),
        "the message must not echo the SSN"
    );
}

#[tokio::test]
async fn a_create_without_a_producer_names_the_required_fields() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let status = client
        .create_producer(pb::CreateProducerRequest::default())
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&status),
        ["producer.npn", "producer.details"]
    );
}

#[tokio::test]
async fn every_accepted_form_is_stored_normalised() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let accepted: Vec<(pb::Producer, Check)> = vec![
        (individual_with(|p| p.ssn = "123456789".into()), |r| {
            assert_eq!(person(r).ssn, "123456789")
        }),
        (
            individual_with(|p| {
                p.ssn = "899-99-9999".into();
                p.ssn_last4 = "9999".into();
            }),
            |r| {
                assert_eq!(
                    (person(r).ssn.as_str(), person(r).ssn_last4.as_str()),
                    ("899999999", "9999")
                )
            },
        ),
        (
            individual_with(|p| {
                p.ssn.clear();
                p.ssn_last4 = "4321".into();
            }),
            |r| {
                assert_eq!(
                    (person(r).ssn.as_str(), person(r).ssn_last4.as_str()),
                    ("", "4321")
                )
            },
        ),
        (individual_with(|p| p.first_name = "  Ada  ".into()), |r| {
            assert_eq!(person(r).first_name, "Ada")
        }),
        (individual_with(|p| p.first_name = "É".repeat(100)), |r| {
            assert_eq!(person(r).first_name.chars().count(), 100)
        }),
        (individual_with(|p| p.date_of_birth = date(0)), |r| {
            assert_eq!(person(r).date_of_birth, date(0))
        }),
        (individual_with(|p| p.date_of_birth.clear()), |r| {
            assert_eq!(person(r).date_of_birth, "")
        }),
        (
            individual_with(|p| p.finra_crd_number = "1234567890".into()),
            |r| assert_eq!(person(r).finra_crd_number, "1234567890"),
        ),
        (
            individual_with(|p| p.primary_email = email_of_length(254)),
            |r| assert_eq!(person(r).primary_email.len(), 254),
        ),
        (
            individual_with(|p| p.gender = pb::Gender::Unspecified as i32),
            |r| assert_eq!(person(r).gender, pb::Gender::Unspecified as i32),
        ),
        (firm_with(|f| f.fein = "123456789".into()), |r| {
            assert_eq!(firm_of(r).fein, "123456789")
        }),
        (firm_with(|f| f.fein.clear()), |r| {
            assert_eq!(firm_of(r).fein, "")
        }),
    ];
    for (index, (mut producer, check)) in accepted.into_iter().enumerate() {
        producer.npn = format!("{}", 1_000_000_000 + index);
        let created = client
            .create_producer(create(producer))
            .await
            .unwrap()
            .into_inner();
        check(&created);
    }
    let ten_digits = client
        .create_producer(create(individual("9999999999")))
        .await
        .unwrap();
    assert_eq!(ten_digits.into_inner().npn, "9999999999");
}

#[tokio::test]
async fn output_only_fields_on_input_are_ignored() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let producer = pb::Producer {
        id: "chosen-by-client".into(),
        version: 99,
        etag: "99".into(),
        r#type: pb::ProducerType::Firm as i32,
        ..individual("300")
    };
    let created = client
        .create_producer(create(producer))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(created.id, "chosen-by-client");
    assert_eq!(created.version, 1);
    assert_eq!(created.r#type, pb::ProducerType::Individual as i32);
    let invalid_id = client
        .get_producer(by_id("chosen-by-client"))
        .await
        .unwrap_err();
    assert_eq!(invalid_id.code(), Code::InvalidArgument);
}
