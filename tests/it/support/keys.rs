//! Token signing for tests: an issuer with Ed25519, ES256 and RS256 keys published in a
//! JWKS file, and a builder for good and deliberately bad access tokens.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair,
};
use serde_json::{Value, json};

pub const ISSUER: &str = "https://issuer.test/";
pub const AUDIENCE: &str = "producer-profile";

pub struct TestIssuer {
    pub jwks_path: PathBuf,
    ed25519: EncodingKey,
    es256: EncodingKey,
    rs256: EncodingKey,
    /// A key nobody trusts, for forged signatures.
    untrusted: EncodingKey,
    /// The raw Ed25519 public key, for HMAC key-confusion attempts.
    pub ed25519_public: Vec<u8>,
}

fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn pem_body(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).expect("fixture PEM is base64")
}

/// The process-wide test issuer; its JWKS is written once to a temporary file.
pub fn issuer() -> &'static TestIssuer {
    static ISSUER_KEYS: OnceLock<TestIssuer> = OnceLock::new();
    ISSUER_KEYS.get_or_init(|| {
        let rng = SystemRandom::new();
        let ed_doc = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let ed = Ed25519KeyPair::from_pkcs8(ed_doc.as_ref()).unwrap();
        let es_doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let es = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, es_doc.as_ref(), &rng)
            .unwrap();
        let rs_pem = include_str!("../../fixtures/rsa-test-signing-key.pem");
        let rs_der = pem_body(rs_pem);
        let rs = RsaKeyPair::from_pkcs8(&rs_der).unwrap();
        let rs_public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(rs.public());
        let untrusted_doc = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();

        let es_point = es.public_key().as_ref(); // 0x04 || x || y
        let jwks = json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "use": "sig", "x": b64url(ed.public_key().as_ref())},
            {"kty": "EC", "crv": "P-256", "kid": "es-1", "alg": "ES256",
             "x": b64url(&es_point[1..33]), "y": b64url(&es_point[33..65])},
            {"kty": "RSA", "kid": "rs-1", "alg": "RS256", "n": b64url(&rs_public.n), "e": b64url(&rs_public.e)},
            {"kty": "RSA", "kid": "enc-1", "use": "enc", "alg": "RSA-OAEP", "n": b64url(&rs_public.n), "e": b64url(&rs_public.e)}
        ]});
        let dir = std::env::temp_dir().join(format!("pp-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let jwks_path = dir.join("jwks.json");
        std::fs::write(&jwks_path, serde_json::to_vec(&jwks).unwrap()).unwrap();
        TestIssuer {
            jwks_path,
            ed25519: EncodingKey::from_ed_der(ed_doc.as_ref()),
            es256: EncodingKey::from_ec_der(es_doc.as_ref()),
            rs256: EncodingKey::from_rsa_pem(rs_pem.as_bytes()).unwrap(),
            untrusted: EncodingKey::from_ed_der(untrusted_doc.as_ref()),
            ed25519_public: ed.public_key().as_ref().to_vec(),
        }
    })
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An access token to build, good by default: EdDSA, its key's kid, typ `at+jwt`, right
/// issuer and audience, valid for five minutes.
#[derive(Clone)]
pub struct TokenSpec {
    pub alg: Algorithm,
    pub kid: Option<String>,
    pub typ: Option<String>,
    pub claims: Value,
    pub signed_by_untrusted_key: bool,
}

impl TokenSpec {
    pub fn new(account: &str, scope: &str) -> Self {
        let now = now();
        Self {
            alg: Algorithm::EdDSA,
            kid: None,
            typ: Some("at+jwt".into()),
            claims: json!({
                "iss": ISSUER, "aud": AUDIENCE, "sub": "client-1", "client_id": "client-1",
                "account_id": account, "scope": scope,
                "iat": now, "nbf": now, "exp": now + 300, "jti": uuid::Uuid::now_v7().to_string(),
            }),
            signed_by_untrusted_key: false,
        }
    }

    pub fn with_claim(mut self, name: &str, value: Value) -> Self {
        self.claims[name] = value;
        self
    }

    pub fn without_claim(mut self, name: &str) -> Self {
        self.claims.as_object_mut().unwrap().remove(name);
        self
    }

    pub fn sign(&self) -> String {
        let issuer = issuer();
        let (key, kid) = match (self.signed_by_untrusted_key, self.alg) {
            (true, _) => (&issuer.untrusted, "ed-1"),
            (false, Algorithm::EdDSA) => (&issuer.ed25519, "ed-1"),
            (false, Algorithm::ES256) => (&issuer.es256, "es-1"),
            (false, Algorithm::RS256) => (&issuer.rs256, "rs-1"),
            (false, other) => panic!("no test key for {other:?}"),
        };
        let mut header = Header::new(self.alg);
        // None: the signing key's kid; Some(""): no kid header at all.
        header.kid = match &self.kid {
            None => Some(kid.to_owned()),
            Some(k) if k.is_empty() => None,
            Some(k) => Some(k.clone()),
        };
        header.typ = self.typ.clone();
        jsonwebtoken::encode(&header, &self.claims, key).unwrap()
    }
}

/// A token for `account` with `scope`, signed by the trusted Ed25519 key.
pub fn token(account: &str, scope: &str) -> String {
    TokenSpec::new(account, scope).sign()
}

/// Every scope of the producer API.
pub const ALL_PRODUCER_SCOPES: &str = "producers:read producers:write producers:pii";
