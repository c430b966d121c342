//! The SSN at rest: encrypted, bound to its row, readable across key rotation, and never
//! stored in clear anywhere in the row.

use std::sync::Arc;

use diesel::prelude::*;
use diesel::sql_types::{Bytea, Nullable, Text};
use secrecy::SecretString;
use tonic::Code;

use producer_profile::proto::v1 as pb;

use crate::support::server::test_config;
use crate::support::*;

#[derive(QueryableByName)]
struct StoredRow {
    #[diesel(sql_type = Text)]
    row_json: String,
    #[diesel(sql_type = Nullable<Bytea>)]
    ssn_ciphertext: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Text>)]
    ssn_key_id: Option<String>,
}

fn stored_rows(db: &crate::support::database::TestDb) -> Vec<StoredRow> {
    diesel::sql_query(
        "SELECT row_to_json(p)::text AS row_json, ssn_ciphertext, ssn_key_id FROM producers p",
    )
    .load(&mut db.connect())
    .unwrap()
}

#[tokio::test]
async fn the_stored_row_holds_no_ssn_digits_in_clear() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    client
        .create_producer(create(individual("1")))
        .await
        .unwrap();

    let rows = stored_rows(&server.db);
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    for clear in ["123456789", "123-45-6789", "456789"] {
        assert!(
            !row.row_json.contains(clear),
            "{clear} found in {}",
            row.row_json
        );
    }
    let ciphertext = row
        .ssn_ciphertext
        .as_ref()
        .expect("the SSN is stored encrypted");
    assert!(!ciphertext.windows(4).any(|w| w == b"1234" || w == b"6789"));
    assert_eq!(
        ciphertext.len(),
        12 + 9 + 16,
        "nonce, 9 encrypted digits, tag"
    );
    assert_eq!(row.ssn_key_id.as_deref(), Some("test-1"));
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_producer_does_not_decrypt() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let victim = client
        .create_producer(create(individual("1")))
        .await
        .unwrap()
        .into_inner();
    let mut other = individual("2");
    person_mut(&mut other).ssn = "111-22-3333".into();
    let thief = client
        .create_producer(create(other))
        .await
        .unwrap()
        .into_inner();

    diesel::sql_query(
        "UPDATE producers SET ssn_ciphertext = (SELECT ssn_ciphertext FROM producers WHERE id = $1::uuid) \
         WHERE id = $2::uuid",
    )
    .bind::<Text, _>(&victim.id)
    .bind::<Text, _>(&thief.id)
    .execute(&mut server.db.connect())
    .unwrap();

    let status = client.get_producer(by_id(thief.id)).await.unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    assert_eq!(
        status.message(),
        "internal error",
        "no detail reaches the caller"
    );
}

#[tokio::test]
async fn ssns_written_under_an_old_key_read_back_after_rotation() {
    let old_key = "old:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let new_key = "new:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
    let first = TestServer::start_with(|config| {
        config.encryption.active_key_id = "old".into();
        config.encryption.keys = SecretString::from(old_key);
    })
    .await;
    let db = Arc::clone(&first.db);
    let blind_index_key = first.config.encryption.blind_index_key.clone();
    let created = first
        .client_for("ACME", ALL_PRODUCER_SCOPES)
        .await
        .create_producer(create(individual("1")))
        .await
        .unwrap()
        .into_inner();
    first.stop().await.unwrap();

    let launch = |keys: String| {
        let mut config = test_config(&db.url);
        config.encryption.active_key_id = "new".into();
        config.encryption.keys = SecretString::from(keys);
        config.encryption.blind_index_key = blind_index_key.clone();
        TestServer::launch(Arc::clone(&db), config)
    };
    let rotated = launch(format!("{new_key},{old_key}")).await;
    rotated
        .wait_for_health(tonic_health::pb::health_check_response::ServingStatus::Serving)
        .await;
    let mut client = rotated.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let read = client
        .get_producer(by_id(created.id.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(person(&read).ssn, "123456789");
    let found = client
        .list_producers(pb::ListProducersRequest {
            ssn: "123456789".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        found.producers.len(),
        1,
        "the blind index survives a key rotation"
    );
    // Any change re-encrypts the row under the active key.
    client
        .update_producer(change_npn(&created.id, "2"))
        .await
        .unwrap();
    assert_eq!(stored_rows(&db)[0].ssn_key_id.as_deref(), Some("new"));
    rotated.stop().await.unwrap();

    let without_old_key = launch(new_key.to_owned()).await;
    without_old_key
        .wait_for_health(tonic_health::pb::health_check_response::ServingStatus::Serving)
        .await;
    let mut client = without_old_key
        .client_for("ACME", ALL_PRODUCER_SCOPES)
        .await;
    let read = client
        .get_producer(by_id(created.id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(person(&read).ssn, "123456789");
}

#[derive(QueryableByName)]
struct StoredAccount {
    #[diesel(sql_type = Text)]
    row_json: String,
    #[diesel(sql_type = Bytea)]
    number_ciphertext: Vec<u8>,
    #[diesel(sql_type = Text)]
    number_key_id: String,
    #[diesel(sql_type = Text)]
    id: String,
}

#[tokio::test]
async fn a_bank_account_number_is_stored_only_encrypted_and_bound_to_its_row() {
    let server = TestServer::start().await;
    let mut client = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;
    let producer = client
        .create_producer(create(firm("1")))
        .await
        .unwrap()
        .into_inner();
    let created = client
        .create_bank_account(pb::CreateBankAccountRequest {
            producer_id: producer.id.clone(),
            bank_account: Some(checking_account()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        !format!("{created:?}").contains("123456789"),
        "no response carries the number"
    );

    let rows: Vec<StoredAccount> = diesel::sql_query(
        "SELECT row_to_json(b)::text AS row_json, number_ciphertext, number_key_id, id::text AS id \
         FROM bank_accounts b",
    )
    .load(&mut server.db.connect())
    .unwrap();
    let row = &rows[0];
    assert!(!row.row_json.contains("123456789"), "{}", row.row_json);
    assert_eq!(row.number_key_id, "test-1");

    // Whoever holds the key can recover the number, but only in its own row's context.
    let cipher = server.config.encryption.field_cipher().unwrap();
    let sealed = producer_profile::crypto::SealedValue {
        key_id: row.number_key_id.clone(),
        bytes: row.number_ciphertext.clone(),
    };
    fn context(owner: &str) -> producer_profile::crypto::FieldContext<'_> {
        producer_profile::crypto::FieldContext {
            account_id: "ACME",
            owner_id: owner,
            field: "bank_account.number",
        }
    }
    let padded = String::from_utf8(cipher.open(&sealed, &context(&row.id)).unwrap()).unwrap();
    let number =
        producer_profile::domain::bank_account::AccountNumber::from_padded(&padded).unwrap();
    assert_eq!(number.expose_digits(), "000123456789");
    assert_eq!(
        row.number_ciphertext.len(),
        12 + 19 + 16,
        "every number seals to one size"
    );
    assert!(cipher.open(&sealed, &context(&producer.id)).is_err());
}
