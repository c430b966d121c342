//! UpdateProducer: field masks, etags, the SSN's derived last four, type changes.

use tonic::Code;

use pb::producer::Details;
use producer_profile::proto::v1 as pb;

use crate::support::server::Client;
use crate::support::*;

fn update(
    id: &str,
    producer: pb::Producer,
    paths: &[&str],
    etag: &str,
) -> pb::UpdateProducerRequest {
    pb::UpdateProducerRequest {
        request_id: String::new(),
        id: id.into(),
        producer: Some(producer),
        update_mask: update_mask(paths),
        etag: etag.into(),
    }
}

fn patch(change: impl FnOnce(&mut pb::Individual)) -> pb::Producer {
    let mut person = pb::Individual::default();
    change(&mut person);
    pb::Producer {
        details: Some(Details::Individual(person)),
        ..Default::default()
    }
}

async fn created(client: &mut Client, producer: pb::Producer) -> pb::Producer {
    client
        .create_producer(create(producer))
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn only_the_masked_fields_change_and_the_version_moves_on() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let before = created(&mut client, individual("1")).await;
    let after = client
        .update_producer(update(
            &before.id,
            pb::Producer {
                npn: "ignored-not-in-mask".into(),
                ..patch(|p| {
                    p.first_name = "Augusta".into();
                    p.last_name = "ignored".into();
                })
            },
            &["individual.first_name"],
            &before.etag,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(person(&after).first_name, "Augusta");
    assert_eq!(person(&after).last_name, "Lovelace");
    assert_eq!(after.npn, "1");
    assert_eq!(person(&after).ssn, "123456789", "an untouched SSN survives");
    assert_eq!((after.version, after.etag.as_str()), (2, "2"));
    assert!(time_of(&after.update_time) > time_of(&before.update_time));
    assert_eq!(after.create_time, before.create_time);
    let read = client.get_producer(by_id(before.id)).await.unwrap();
    assert_eq!(read.into_inner(), after);
}

#[tokio::test]
async fn a_stale_etag_is_aborted_and_changes_nothing() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let first = created(&mut client, individual("1")).await;
    let rename = |name: &str| patch(|p| p.first_name = name.into());
    client
        .update_producer(update(
            &first.id,
            rename("Bea"),
            &["individual.first_name"],
            &first.etag,
        ))
        .await
        .unwrap();
    let stale = client
        .update_producer(update(
            &first.id,
            rename("Cy"),
            &["individual.first_name"],
            &first.etag,
        ))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted, "{stale:?}");
    assert!(stale.message().contains("\"2\""), "{}", stale.message());
    let read = client
        .get_producer(by_id(first.id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (person(&read).first_name.as_str(), read.version),
        ("Bea", 2)
    );
}

#[tokio::test]
async fn concurrent_updates_from_the_same_read_let_exactly_one_win() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let first = created(&mut client, individual("1")).await;
    let attempts = (0..6).map(|i| {
        let mut client = client.clone();
        let request = update(
            &first.id,
            patch(|p| p.title = format!("Title {i}")),
            &["individual.title"],
            &first.etag,
        );
        tokio::spawn(async move { client.update_producer(request).await })
    });
    let results: Vec<_> = futures_join(attempts).await;
    let winners = results.iter().filter(|r| r.is_ok()).count();
    let aborted = results
        .iter()
        .filter(|r| matches!(r, Err(s) if s.code() == Code::Aborted))
        .count();
    assert_eq!((winners, aborted), (1, 5));
    let read = client
        .get_producer(by_id(first.id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.version, 2);
}

async fn futures_join<T: Send + 'static>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test]
async fn a_masked_field_left_empty_is_cleared() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let first = created(&mut client, individual("1")).await;
    let after = client
        .update_producer(update(
            &first.id,
            patch(|_| {}),
            &["individual.middle_name", "individual.primary_email"],
            "",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(person(&after).middle_name, "");
    assert_eq!(person(&after).primary_email, "");
}

#[tokio::test]
async fn a_new_ssn_brings_its_last_four_and_clearing_it_clears_them() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let first = created(&mut client, individual("1")).await;
    let changed = client
        .update_producer(update(
            &first.id,
            patch(|p| p.ssn = "111-22-3333".into()),
            &["individual.ssn"],
            "",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            person(&changed).ssn.as_str(),
            person(&changed).ssn_last4.as_str()
        ),
        ("111223333", "3333")
    );
    let mismatch = client
        .update_producer(update(
            &first.id,
            patch(|p| p.ssn_last4 = "1234".into()),
            &["individual.ssn_last4"],
            "",
        ))
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&mismatch),
        ["producer.individual.ssn_last4"]
    );
    let cleared = client
        .update_producer(update(&first.id, patch(|_| {}), &["individual.ssn"], ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            person(&cleared).ssn.as_str(),
            person(&cleared).ssn_last4.as_str()
        ),
        ("", "")
    );
}

#[tokio::test]
async fn replacing_the_detail_block_changes_the_type() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let first = created(&mut client, individual("1")).await;
    let as_firm = client
        .update_producer(update(&first.id, firm("ignored"), &["firm"], ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(as_firm.r#type, pb::ProducerType::Firm as i32);
    assert_eq!(firm_of(&as_firm).name, "Analytical Engines Agency");
    assert_eq!(as_firm.npn, "1");
    let everything = client
        .update_producer(update(&first.id, individual("2"), &["*"], &as_firm.etag))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((everything.npn.as_str(), everything.version), ("2", 3));
    assert_eq!(person(&everything).first_name, "Ada");
}

#[tokio::test]
async fn bad_masks_and_bad_values_are_refused_and_change_nothing() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let first = created(&mut client, individual("1")).await;
    let cases: Vec<(pb::UpdateProducerRequest, Vec<&str>)> = vec![
        (
            update(&first.id, patch(|_| {}), &[], ""),
            vec!["update_mask"],
        ),
        (
            update(&first.id, firm("1"), &["firm.name"], ""),
            vec!["update_mask"],
        ),
        (
            update(
                &first.id,
                patch(|_| {}),
                &["individual.shoe_size", "nickname"],
                "",
            ),
            vec!["update_mask", "update_mask"],
        ),
        (
            update(
                &first.id,
                patch(|p| p.primary_email = "x".into()),
                &["individual.primary_email"],
                "",
            ),
            vec!["producer.individual.primary_email"],
        ),
        (
            update(&first.id, patch(|_| {}), &["individual.last_name"], ""),
            vec!["producer.individual.last_name"],
        ),
        (
            update(
                &first.id,
                pb::Producer {
                    npn: "x1".into(),
                    ..Default::default()
                },
                &["npn"],
                "",
            ),
            vec!["producer.npn"],
        ),
        (
            update("nope", patch(|_| {}), &["npn"], "nope"),
            vec!["id", "etag"],
        ),
    ];
    for (request, fields) in cases {
        let status = client.update_producer(request).await.unwrap_err();
        assert_eq!(violated_fields(&status), fields, "{status:?}");
    }
    let read = client
        .get_producer(by_id(first.id.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, first);
}

#[tokio::test]
async fn taking_another_producers_npn_is_already_exists() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    created(&mut client, individual("1")).await;
    let second = created(&mut client, firm("2")).await;
    let status = client
        .update_producer(update(
            &second.id,
            pb::Producer {
                npn: "1".into(),
                ..Default::default()
            },
            &["npn"],
            "",
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
}

#[tokio::test]
async fn an_update_that_changes_nothing_keeps_the_version() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let first = created(&mut client, individual("1")).await;
    let same = client
        .update_producer(update(
            &first.id,
            patch(|p| p.first_name = "Ada".into()),
            &["individual.first_name"],
            "",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(same, first);
}

#[tokio::test]
async fn updating_a_missing_producer_is_not_found() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let status = client
        .update_producer(update(
            &uuid::Uuid::now_v7().to_string(),
            patch(|_| {}),
            &["npn"],
            "",
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn a_caller_without_pii_cannot_erase_or_probe_the_ssn() {
    let server = TestServer::start().await;
    let mut pii = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let mut plain = server
        .client_for("ACME", "producers:read producers:write")
        .await;
    let first = created(&mut pii, individual("1")).await;

    // Read without PII, change the name, send the whole block back.
    let mut read = plain
        .get_producer(by_id(first.id.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(person(&read).ssn, "");
    person_mut(&mut read).first_name = "Augusta".into();
    plain
        .update_producer(update(&first.id, read.clone(), &["individual"], &read.etag))
        .await
        .unwrap();
    let after = pii
        .get_producer(by_id(first.id.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(person(&after).first_name, "Augusta");
    assert_eq!(
        person(&after).ssn,
        "123456789",
        "the hidden SSN survives a block replace"
    );

    let probe = plain
        .update_producer(update(
            &first.id,
            patch(|p| p.ssn = "123-45-6789".into()),
            &["individual.ssn"],
            "",
        ))
        .await
        .unwrap_err();
    assert_eq!(probe.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn mask_errors_are_reported_with_the_other_violations_before_any_read() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    // The producer does not exist, yet the answer names the bad input, not NOT_FOUND.
    let status = client
        .update_producer(update(
            &uuid::Uuid::now_v7().to_string(),
            patch(|_| {}),
            &["shoe_size"],
            "x",
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["etag", "update_mask"]);
}
