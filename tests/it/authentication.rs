//! Access tokens: every way a token can be wrong is UNAUTHENTICATED; a missing scope is
//! PERMISSION_DENIED; the accepted algorithms all work.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use tonic::Code;

use producer_profile::proto::v1 as pb;

use crate::support::keys::{issuer, now};
use crate::support::*;

async fn get_with(server: &TestServer, token: &str) -> Code {
    let mut client = server.client(token).await;
    match client
        .get_producer(by_id(uuid::Uuid::now_v7().to_string()))
        .await
    {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

fn unsigned(header: serde_json::Value, claims: serde_json::Value) -> String {
    let part = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap());
    format!("{}.{}.", part(header), part(claims))
}

#[tokio::test]
async fn a_call_without_a_token_is_unauthenticated() {
    let server = TestServer::start().await;
    let mut client = server.anonymous_client().await;
    let status = client
        .list_producers(pb::ListProducersRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.message().contains("Bearer"));
}

#[tokio::test]
async fn every_kind_of_bad_token_is_unauthenticated() {
    let server = TestServer::start().await;
    let good = TokenSpec::new("ACME", "producers:read");
    let mut expired = good.clone().with_claim("exp", json!(now() - 120));
    expired.claims["nbf"] = json!(now() - 600);
    let mut untrusted = good.clone();
    untrusted.signed_by_untrusted_key = true;
    let mut wrong_typ = good.clone();
    wrong_typ.typ = Some("JWT".into());
    let mut unknown_kid = good.clone();
    unknown_kid.kid = Some("rotated-away".into());
    let mut no_kid = good.clone();
    no_kid.kid = Some(String::new());
    // Signed with the RSA key but naming the Ed25519 key: the key decides the algorithm.
    let mut mismatched = TokenSpec {
        alg: Algorithm::RS256,
        ..good.clone()
    };
    mismatched.kid = Some("ed-1".into());
    let hmac_with_public_key = jsonwebtoken::encode(
        &Header {
            kid: Some("ed-1".into()),
            typ: Some("at+jwt".into()),
            ..Header::new(Algorithm::HS256)
        },
        &good.claims,
        &EncodingKey::from_secret(&issuer().ed25519_public),
    )
    .unwrap();
    let alg_none = unsigned(
        json!({"alg": "none", "typ": "at+jwt", "kid": "ed-1"}),
        good.claims.clone(),
    );

    let cases: Vec<(&str, String)> = vec![
        ("garbage", "not.a.jwt".into()),
        ("alg none", alg_none),
        ("HS256 keyed with the public key", hmac_with_public_key),
        ("signed by an untrusted key", untrusted.sign()),
        ("expired beyond the leeway", expired.sign()),
        (
            "not valid yet",
            good.clone().with_claim("nbf", json!(now() + 600)).sign(),
        ),
        (
            "wrong issuer",
            good.clone()
                .with_claim("iss", json!("https://evil.test/"))
                .sign(),
        ),
        (
            "wrong audience",
            good.clone().with_claim("aud", json!("another-api")).sign(),
        ),
        ("no expiry", good.clone().without_claim("exp").sign()),
        (
            "no account",
            good.clone().without_claim("account_id").sign(),
        ),
        (
            "malformed account",
            good.clone()
                .with_claim("account_id", json!("two words"))
                .sign(),
        ),
        ("an ID token, not an access token", wrong_typ.sign()),
        ("unknown key id", unknown_kid.sign()),
        ("no key id with several keys", no_kid.sign()),
        ("algorithm other than its key's", mismatched.sign()),
        ("no audience", good.clone().without_claim("aud").sign()),
        ("no issuer", good.clone().without_claim("iss").sign()),
        (
            "no subject (RFC 9068)",
            good.clone().without_claim("sub").sign(),
        ),
        (
            "no client_id (RFC 9068)",
            good.clone().without_claim("client_id").sign(),
        ),
        (
            "no iat (RFC 9068)",
            good.clone().without_claim("iat").sign(),
        ),
        (
            "no jti (RFC 9068)",
            good.clone().without_claim("jti").sign(),
        ),
    ];
    for (case, token) in cases {
        assert_eq!(
            get_with(&server, &token).await,
            Code::Unauthenticated,
            "{case}"
        );
    }
}

#[tokio::test]
async fn every_accepted_algorithm_and_the_leeway_work() {
    let server = TestServer::start().await;
    let good = TokenSpec::new("ACME", "producers:read");
    for alg in [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256] {
        let token = TokenSpec {
            alg,
            ..good.clone()
        }
        .sign();
        assert_eq!(get_with(&server, &token).await, Code::NotFound, "{alg:?}");
    }
    let just_expired = good.clone().with_claim("exp", json!(now() - 5)).sign();
    assert_eq!(
        get_with(&server, &just_expired).await,
        Code::NotFound,
        "within the leeway"
    );
    let audience_list = good
        .with_claim("aud", json!(["other", "producer-profile"]))
        .sign();
    assert_eq!(get_with(&server, &audience_list).await, Code::NotFound);
}

#[tokio::test]
async fn a_relaxed_profile_accepts_tokens_without_the_rfc9068_extras() {
    let server = TestServer::start_with(|config| config.auth.strict_rfc9068 = false).await;
    let mut plain_jwt = TokenSpec::new("ACME", "producers:read")
        .without_claim("jti")
        .without_claim("client_id");
    plain_jwt.typ = Some("JWT".into());
    assert_eq!(get_with(&server, &plain_jwt.sign()).await, Code::NotFound);
}

#[tokio::test]
async fn each_rpc_needs_its_scope() {
    let server = TestServer::start().await;
    let mut writer = server.client_for("ACME", "producers:write").await;
    let mut reader = server.client_for("ACME", "producers:read").await;
    let mut nothing = server
        .client_for("ACME", "events:read webhooks:manage")
        .await;

    let denied = reader.create_producer(create(firm("1"))).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert!(denied.message().contains("producers:write"));
    let created = writer
        .create_producer(create(firm("1")))
        .await
        .unwrap()
        .into_inner();

    let read_denied = writer
        .get_producer(by_id(created.id.clone()))
        .await
        .unwrap_err();
    assert_eq!(read_denied.code(), Code::PermissionDenied);
    reader
        .get_producer(by_id(created.id.clone()))
        .await
        .unwrap();
    for status in [
        nothing
            .list_producers(pb::ListProducersRequest::default())
            .await
            .unwrap_err(),
        nothing
            .get_producer_by_npn(pb::GetProducerByNpnRequest { npn: "1".into() })
            .await
            .unwrap_err(),
        reader
            .update_producer(pb::UpdateProducerRequest {
                id: created.id.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err(),
        reader
            .delete_producer(pb::DeleteProducerRequest {
                request_id: String::new(),
                id: created.id.clone(),
                etag: String::new(),
            })
            .await
            .unwrap_err(),
    ] {
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    }
}

#[tokio::test]
async fn only_pii_callers_ever_see_the_full_ssn() {
    let server = TestServer::start().await;
    let mut plain = server
        .client_for("ACME", "producers:read producers:write")
        .await;
    let mut pii = server.client_for("ACME", ALL_PRODUCER_SCOPES).await;

    let created = plain
        .create_producer(create(individual("1")))
        .await
        .unwrap()
        .into_inner();
    let updated = plain
        .update_producer(change_npn(&created.id, "2"))
        .await
        .unwrap()
        .into_inner();
    let read_by_id = plain
        .get_producer(by_id(created.id.clone()))
        .await
        .unwrap()
        .into_inner();
    let by_npn = plain
        .get_producer_by_npn(pb::GetProducerByNpnRequest { npn: "2".into() })
        .await
        .unwrap()
        .into_inner();
    let listed = plain
        .list_producers(pb::ListProducersRequest::default())
        .await
        .unwrap()
        .into_inner();
    for seen in [
        &created,
        &updated,
        &read_by_id,
        &by_npn,
        &listed.producers[0],
    ] {
        assert_eq!(
            (person(seen).ssn.as_str(), person(seen).ssn_last4.as_str()),
            ("", "6789")
        );
    }

    let full = pii
        .get_producer(by_id(created.id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(person(&full).ssn, "123456789");
}

#[tokio::test]
async fn health_checks_need_no_token() {
    let server = TestServer::start().await;
    for service in [
        "producerprofile.v1.ProducerProfileService",
        "producerprofile.events.v1.EventService",
    ] {
        assert_eq!(
            server.health(service).await,
            tonic_health::pb::health_check_response::ServingStatus::Serving,
            "{service}"
        );
    }
}
