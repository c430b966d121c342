//! The local development signing key: an Ed25519 key in a git-ignored PEM file that
//! `make run` generates, so a developer can mint access tokens without an identity
//! provider. Only configured in development; production trusts its issuer's JWKS alone.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, encode};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::json;

use super::jwks::VerificationKey;
use crate::config::AuthConfig;
use crate::domain::AccountId;

/// The `kid` of tokens signed by the development key.
pub const DEV_KEY_ID: &str = "dev";

/// Why the development key could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DevKeyError {
    /// The PEM file cannot be read.
    #[error("cannot read {path}: {1}", path = .0.display())]
    Read(PathBuf, #[source] std::io::Error),
    /// The `PRIVATE KEY` block is not valid base64.
    #[error("{path} is not a PEM private key", path = .0.display())]
    NotPem(PathBuf, #[source] base64::DecodeError),
    /// The block (or its absence) is not an Ed25519 PKCS#8 key.
    #[error("{path}: {1}", path = .0.display())]
    Key(PathBuf, #[source] NotEd25519),
}

/// The bytes are not an Ed25519 PKCS#8 private key.
#[derive(Debug, thiserror::Error)]
#[error("not an Ed25519 PKCS#8 private key")]
pub struct NotEd25519(#[source] ring::error::KeyRejected);

/// The development key: signs the tokens `producer-profile token` mints, and the server
/// also trusts it (kid [`DEV_KEY_ID`]) when `auth.dev_signing_key` is set.
pub struct DevSigningKey {
    encoding: EncodingKey,
    public_x: String,
}

impl DevSigningKey {
    /// Reads a PKCS#8 Ed25519 private key in PEM form (as `openssl genpkey -algorithm
    /// ed25519` writes it).
    pub fn load(path: &Path) -> Result<Self, DevKeyError> {
        let pem = std::fs::read_to_string(path).map_err(|e| DevKeyError::Read(path.into(), e))?;
        let body: String = pem
            .lines()
            .skip_while(|line| !line.starts_with("-----BEGIN PRIVATE KEY-----"))
            .skip(1)
            .take_while(|line| !line.starts_with("-----END"))
            .collect();
        let der = STANDARD
            .decode(body.trim())
            .map_err(|e| DevKeyError::NotPem(path.into(), e))?;
        Self::from_pkcs8(&der).map_err(|e| DevKeyError::Key(path.into(), e))
    }

    /// From PKCS#8 DER bytes (v1 or v2).
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, NotEd25519> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(NotEd25519)?;
        Ok(Self {
            encoding: EncodingKey::from_ed_der(der),
            public_x: URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
        })
    }

    /// The public half, as the verifier trusts it.
    pub fn verification_key(&self) -> VerificationKey {
        VerificationKey {
            kid: Some(DEV_KEY_ID.to_owned()),
            algorithm: Algorithm::EdDSA,
            key: DecodingKey::from_ed_components(&self.public_x)
                .expect("a key derived from a valid key pair is valid"),
        }
    }

    /// A client-credentials style access token for `account` with the space-separated
    /// `scope`, valid for `ttl`, with the issuer, audience and account claim of `auth`.
    pub fn mint(
        &self,
        auth: &AuthConfig,
        account: &AccountId,
        scope: &str,
        ttl: Duration,
    ) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_secs();
        let mut claims = json!({
            "iss": auth.issuer,
            "aud": auth.audience,
            "sub": "dev-client",
            "client_id": "dev-client",
            "scope": scope,
            "iat": now,
            "nbf": now,
            "exp": now + ttl.as_secs(),
            "jti": uuid::Uuid::now_v7().to_string(),
        });
        claims[&auth.account_claim] = json!(account.as_str());
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some("at+jwt".into());
        header.kid = Some(DEV_KEY_ID.into());
        encode(&header, &claims, &self.encoding).expect("Ed25519 signing cannot fail")
    }
}
