//! The issuer's public keys: a JWKS read from a file or a URL, reduced to the keys this
//! service accepts (RS256, ES256, EdDSA signing keys).

use std::path::PathBuf;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

/// The only algorithms accepted. `none`, HMAC (which would let a public key act as a
/// shared secret) and the rest are refused whatever a token or a JWKS says.
pub const ALLOWED_ALGORITHMS: [Algorithm; 3] =
    [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

/// Why one JWK is not usable here.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key is not valid JWK JSON.
    #[error("unreadable JWK: {0}")]
    Malformed(#[source] serde_json::Error),
    /// The key's `use` is something other than `sig` (an encryption key).
    #[error("not a signing key (use is not \"sig\")")]
    NotForSigning,
    /// Neither RSA, nor EC on P-256, nor OKP on Ed25519.
    #[error("unsupported key type or curve")]
    UnsupportedType,
    /// The JWK names an algorithm outside [`ALLOWED_ALGORITHMS`].
    #[error("algorithm {0:?} is not accepted")]
    RefusedAlgorithm(KeyAlgorithm),
    /// The JWK's `alg` belongs to another key type (say ES256 on an RSA key).
    #[error("the alg does not match the key type")]
    AlgorithmMismatch,
    /// The key material does not decode.
    #[error("unreadable key: {0}")]
    Unreadable(#[source] jsonwebtoken::errors::Error),
}

/// Why no key set could be read.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The document is not a JSON object with a `keys` array.
    #[error("not a JWKS document: {0}")]
    NotJwks(#[source] serde_json::Error),
    /// Every key was skipped; the reasons, one per key.
    #[error("the JWKS holds no usable RS256, ES256 or EdDSA signing key ({})", .0.join("; "))]
    NoUsableKey(Vec<String>),
    /// The JWKS file cannot be read.
    #[error("cannot read {path}: {1}", path = .0.display())]
    ReadFile(PathBuf, #[source] std::io::Error),
    /// The JWKS URL did not answer, or answered an error status.
    #[error("cannot fetch {0}: {1}")]
    Fetch(String, #[source] reqwest::Error),
    /// The JWKS URL's answer broke off.
    #[error("cannot read {0}: {1}")]
    ReadBody(String, #[source] reqwest::Error),
}

/// One key a token may be verified with.
#[derive(Clone)]
pub struct VerificationKey {
    /// The id tokens name it by in their header. A key without one verifies only tokens
    /// that name none, and only as the single key of its set.
    pub kid: Option<String>,
    /// The one algorithm a token signed with this key may claim.
    pub algorithm: Algorithm,
    /// The public key.
    pub key: DecodingKey,
}

impl VerificationKey {
    /// The key of one JWK, or why it is not usable here. The algorithm comes from the
    /// JWK's `alg` when present, otherwise from its key type and curve.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, KeyError> {
        if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
            return Err(KeyError::NotForSigning);
        }
        let inferred = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                Algorithm::ES256
            }
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                Algorithm::EdDSA
            }
            _ => return Err(KeyError::UnsupportedType),
        };
        let algorithm = match jwk.common.key_algorithm {
            None => inferred,
            Some(KeyAlgorithm::RS256) => Algorithm::RS256,
            Some(KeyAlgorithm::ES256) => Algorithm::ES256,
            Some(KeyAlgorithm::EdDSA) => Algorithm::EdDSA,
            Some(other) => return Err(KeyError::RefusedAlgorithm(other)),
        };
        if algorithm != inferred {
            return Err(KeyError::AlgorithmMismatch);
        }
        let key = DecodingKey::from_jwk(jwk).map_err(KeyError::Unreadable)?;
        Ok(Self {
            kid: jwk.common.key_id.clone(),
            algorithm,
            key,
        })
    }
}

/// The keys trusted at one moment.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: Vec<VerificationKey>,
}

impl KeySet {
    /// A set of exactly these keys.
    pub fn new(keys: Vec<VerificationKey>) -> Self {
        Self { keys }
    }

    /// Parses a JWKS document, keeping the usable keys. Unusable keys (encryption keys,
    /// other algorithms) are skipped and reported, so one odd key in an identity
    /// provider's set does not lock every caller out.
    pub fn from_jwks_json(json: &[u8]) -> Result<(Self, Vec<String>), JwksError> {
        #[derive(serde::Deserialize)]
        struct RawSet {
            keys: Vec<serde_json::Value>,
        }
        let raw: RawSet = serde_json::from_slice(json).map_err(JwksError::NotJwks)?;
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        for (index, value) in raw.keys.into_iter().enumerate() {
            let kid = value.get("kid").and_then(|k| k.as_str()).map(str::to_owned);
            let parsed = serde_json::from_value::<Jwk>(value)
                .map_err(KeyError::Malformed)
                .and_then(|jwk| VerificationKey::from_jwk(&jwk));
            match parsed {
                Ok(key) => keys.push(key),
                Err(reason) => skipped.push(format!(
                    "key {} ({}): {reason}",
                    index,
                    kid.as_deref().unwrap_or("no kid")
                )),
            }
        }
        if keys.is_empty() {
            return Err(JwksError::NoUsableKey(skipped));
        }
        Ok((Self { keys }, skipped))
    }

    /// Adds a key (the development key) to the set.
    pub fn with(mut self, key: VerificationKey) -> Self {
        self.keys.push(key);
        self
    }

    /// The key a token with this `kid` must verify with. Without a `kid`, only a set of
    /// exactly one key has an answer.
    pub fn find(&self, kid: Option<&str>) -> Option<&VerificationKey> {
        match kid {
            Some(kid) => self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)),
            None if self.keys.len() == 1 => self.keys.first(),
            None => None,
        }
    }

    /// How many keys are trusted.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is trusted (no token can verify).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Where the JWKS comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// A JWKS file, read at start and at every refresh.
    File(PathBuf),
    /// An `https://` (or, if allowed, `http://`) URL, fetched at start and at every
    /// refresh.
    Url(String),
}

impl JwksSource {
    /// `http://` or `https://` means a URL; anything else is a file path.
    pub fn parse(setting: &str) -> Self {
        if setting.starts_with("https://") || setting.starts_with("http://") {
            JwksSource::Url(setting.to_owned())
        } else {
            JwksSource::File(PathBuf::from(setting))
        }
    }

    /// Reads and parses the key set; returns it with the list of skipped keys.
    pub async fn load(&self, http: &reqwest::Client) -> Result<(KeySet, Vec<String>), JwksError> {
        let bytes = match self {
            JwksSource::File(path) => tokio::fs::read(path)
                .await
                .map_err(|e| JwksError::ReadFile(path.clone(), e))?,
            JwksSource::Url(url) => {
                let response = http
                    .get(url)
                    .send()
                    .await
                    .and_then(|r| r.error_for_status())
                    .map_err(|e| JwksError::Fetch(url.clone(), e))?;
                response
                    .bytes()
                    .await
                    .map_err(|e| JwksError::ReadBody(url.clone(), e))?
                    .to_vec()
            }
        };
        KeySet::from_jwks_json(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED_KEY: &str = r#"{"kty":"OKP","crv":"Ed25519","kid":"ed","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;

    #[test]
    fn usable_keys_are_kept_and_the_rest_reported() {
        let jwks = format!(
            r#"{{"keys":[{ED_KEY},
               {{"kty":"oct","kid":"hmac","k":"c2VjcmV0"}},
               {{"kty":"RSA","kid":"enc","use":"enc","alg":"RSA-OAEP","n":"AQAB","e":"AQAB"}}]}}"#
        );
        let (set, skipped) = KeySet::from_jwks_json(jwks.as_bytes()).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        let key = set.find(Some("ed")).unwrap();
        assert_eq!(key.algorithm, Algorithm::EdDSA);
        assert!(set.find(Some("hmac")).is_none());
        assert!(
            set.find(None).is_some(),
            "a lone key serves tokens without kid"
        );
    }

    #[test]
    fn a_set_without_usable_keys_is_an_error() {
        let only_hmac = r#"{"keys":[{"kty":"oct","kid":"hmac","k":"c2VjcmV0"}]}"#;
        assert!(KeySet::from_jwks_json(only_hmac.as_bytes()).is_err());
        assert!(KeySet::from_jwks_json(b"not json").is_err());
    }

    #[test]
    fn a_declared_alg_must_match_the_key_type() {
        let lying = r#"{"kty":"OKP","crv":"Ed25519","alg":"RS256","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
        let jwk: Jwk = serde_json::from_str(lying).unwrap();
        assert!(VerificationKey::from_jwk(&jwk).is_err());
    }

    #[test]
    fn sources_are_urls_or_paths() {
        assert_eq!(
            JwksSource::parse("https://idp.example/jwks.json"),
            JwksSource::Url("https://idp.example/jwks.json".into())
        );
        assert_eq!(
            JwksSource::parse("/etc/pp/jwks.json"),
            JwksSource::File("/etc/pp/jwks.json".into())
        );
    }
}
