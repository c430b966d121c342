//! Access-token verification: signature against the trusted key set, then `iss`, `aud`,
//! `exp`/`nbf` (with leeway), the RFC 9068 `typ`, the account claim and the scopes. A
//! token verified once is answered from the [`TokenCache`] until its expiry.

use std::sync::{Arc, RwLock};

use jsonwebtoken::{Algorithm, Validation, decode, decode_header};
use serde_json::{Map, Value};

use super::jwks::{ALLOWED_ALGORITHMS, KeySet};
use super::token_cache::{TokenCache, key_of};
use super::{AuthError, Caller, Scopes};
use crate::config::AuthConfig;
use crate::domain::AccountId;

/// The claim checks, taken from configuration.
#[derive(Debug, Clone)]
pub struct VerifierSettings {
    /// Required `iss`.
    pub issuer: String,
    /// Required `aud` (one of them, if the token lists several).
    pub audience: String,
    /// The claim that holds the caller's account.
    pub account_claim: String,
    /// Seconds of clock skew tolerated on `exp` and `nbf`.
    pub leeway_secs: u64,
    /// Whether the RFC 9068 profile is enforced: `typ: at+jwt` and the `sub`,
    /// `client_id`, `iat` and `jti` claims.
    pub strict_rfc9068: bool,
}

impl From<&AuthConfig> for VerifierSettings {
    fn from(config: &AuthConfig) -> Self {
        Self {
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            account_claim: config.account_claim.clone(),
            leeway_secs: config.leeway_secs,
            strict_rfc9068: config.strict_rfc9068,
        }
    }
}

/// Verifies tokens; its key set can be replaced while it serves (JWKS refresh).
pub struct TokenVerifier {
    keys: RwLock<Arc<KeySet>>,
    settings: VerifierSettings,
    /// The claim checks for each accepted algorithm, built once (not per call).
    validations: Vec<(Algorithm, Validation)>,
    /// Callers already verified, until their token's expiry less the leeway.
    cache: TokenCache,
}

/// How many verified callers are remembered: one per token in use (about 200 bytes
/// each); a busier replica re-verifies the tokens that fell out.
pub const TOKEN_CACHE_CAPACITY: usize = 10_000;

impl TokenVerifier {
    /// A verifier trusting `keys` and checking claims as `settings` says.
    pub fn new(keys: KeySet, settings: VerifierSettings) -> Self {
        let validations = ALLOWED_ALGORITHMS
            .iter()
            .map(|algorithm| (*algorithm, validation(*algorithm, &settings)))
            .collect();
        Self {
            keys: RwLock::new(Arc::new(keys)),
            settings,
            validations,
            cache: TokenCache::new(TOKEN_CACHE_CAPACITY),
        }
    }

    /// Swaps in a freshly loaded key set, and forgets every verified caller: a token
    /// signed by a key the set no longer holds is refused from now on.
    pub fn replace_keys(&self, keys: KeySet) {
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
        self.cache.clear();
    }

    fn current_keys(&self) -> Arc<KeySet> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The caller a token stands for, or why it stands for no one.
    pub fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let key = key_of(token);
        let now = unix_now();
        if let Some(caller) = self.cache.get(&key, now) {
            return Ok(caller);
        }
        let epoch = self.cache.epoch();
        let (caller, expiry) = self.verify_signed(token)?;
        // Remembered no longer than a fresh check is sure to accept it.
        let until = expiry.saturating_sub(self.settings.leeway_secs);
        if until > now {
            self.cache.insert(key, caller.clone(), until, epoch);
        }
        Ok(caller)
    }

    /// The full check: the caller, and the token's `exp` (Unix seconds).
    fn verify_signed(&self, token: &str) -> Result<(Caller, u64), AuthError> {
        let invalid = |reason: &str| AuthError::InvalidToken(reason.to_owned());
        // Unknown algorithms (`none` among them) fail here: the header does not parse.
        let header = decode_header(token).map_err(|_| invalid("malformed token"))?;
        if !ALLOWED_ALGORITHMS.contains(&header.alg) {
            return Err(invalid("signing algorithm not accepted"));
        }
        if self.settings.strict_rfc9068 {
            let typ = header.typ.as_deref().unwrap_or("").to_ascii_lowercase();
            if typ != "at+jwt" && typ != "application/at+jwt" {
                return Err(invalid("not an access token (typ must be at+jwt)"));
            }
        }
        let keys = self.current_keys();
        let key = keys
            .find(header.kid.as_deref())
            .ok_or_else(|| invalid("signed by an unknown key"))?;
        if key.algorithm != header.alg {
            return Err(invalid("algorithm does not match the key"));
        }
        let (_, validation) = self
            .validations
            .iter()
            .find(|(algorithm, _)| *algorithm == key.algorithm)
            .ok_or_else(|| invalid("signing algorithm not accepted"))?;
        let claims = decode::<Map<String, Value>>(token, &key.key, validation)
            .map_err(|error| invalid(&describe(error.kind())))?
            .claims;
        if self.settings.strict_rfc9068 {
            for claim in ["client_id", "iat", "jti"] {
                if claims.get(claim).is_none_or(Value::is_null) {
                    return Err(invalid(&format!("the `{claim}` claim is missing")));
                }
            }
        }
        // `exp` is required and checked above; a fractional one counts from its second.
        let expiry = claims
            .get("exp")
            .and_then(|exp| exp.as_u64().or_else(|| exp.as_f64().map(|e| e as u64)))
            .unwrap_or(0);
        Ok((self.caller_from(&claims)?, expiry))
    }

    fn caller_from(&self, claims: &Map<String, Value>) -> Result<Caller, AuthError> {
        let claim = &self.settings.account_claim;
        let account = claims
            .get(claim)
            .and_then(Value::as_str)
            .ok_or_else(|| AuthError::InvalidToken(format!("the `{claim}` claim is missing")))
            .and_then(|raw| {
                AccountId::parse(raw)
                    .map_err(|e| AuthError::InvalidToken(format!("the `{claim}` claim {}", e.0)))
            })?;
        let scopes = match claims.get("scope") {
            Some(Value::String(list)) => Scopes::parse(list),
            _ => Scopes::default(),
        };
        let client_id = ["client_id", "sub"]
            .iter()
            .find_map(|name| claims.get(*name).and_then(Value::as_str))
            .map(str::to_owned);
        Ok(Caller {
            account,
            scopes,
            client_id,
        })
    }
}

/// Now, in Unix seconds (as `exp` counts).
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

fn describe(kind: &jsonwebtoken::errors::ErrorKind) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match kind {
        ErrorKind::InvalidSignature => "bad signature".into(),
        ErrorKind::ExpiredSignature => "expired".into(),
        ErrorKind::ImmatureSignature => "not valid yet (nbf)".into(),
        ErrorKind::InvalidIssuer => "wrong issuer".into(),
        ErrorKind::InvalidAudience => "wrong audience".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the `{claim}` claim is missing"),
        ErrorKind::InvalidAlgorithm => "algorithm does not match the key".into(),
        _ => "malformed token".into(),
    }
}

/// The claim checks for tokens signed with `algorithm`: issuer, audience, expiry and
/// not-before with leeway (and `sub` too under RFC 9068).
fn validation(algorithm: Algorithm, settings: &VerifierSettings) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.set_issuer(&[&settings.issuer]);
    validation.set_audience(&[&settings.audience]);
    validation.set_required_spec_claims(if settings.strict_rfc9068 {
        &["exp", "iss", "aud", "sub"][..]
    } else {
        &["exp", "iss", "aud"][..]
    });
    validation.leeway = settings.leeway_secs;
    validation.validate_nbf = true;
    validation
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ring::rand::SystemRandom;
    use ring::signature::Ed25519KeyPair;

    use super::*;
    use crate::auth::DevSigningKey;

    fn signing_key() -> DevSigningKey {
        let der = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        DevSigningKey::from_pkcs8(der.as_ref()).unwrap()
    }

    fn auth() -> AuthConfig {
        AuthConfig {
            issuer: "https://issuer.test".into(),
            leeway_secs: 0,
            ..AuthConfig::default()
        }
    }

    fn verifier_trusting(key: &DevSigningKey) -> TokenVerifier {
        let keys = KeySet::default().with(key.verification_key());
        TokenVerifier::new(keys, VerifierSettings::from(&auth()))
    }

    fn token(key: &DevSigningKey, ttl: Duration) -> String {
        let account = AccountId::parse("ACME").unwrap();
        key.mint(&auth(), &account, "producers:read", ttl)
    }

    #[test]
    fn a_verified_caller_is_remembered_and_an_expired_one_is_refused() {
        let key = signing_key();
        let verifier = verifier_trusting(&key);
        let short = token(&key, Duration::from_secs(1));
        let first = verifier.verify(&short).expect("a fresh token");
        assert_eq!(verifier.cache.len(), 1, "remembered");
        assert_eq!(verifier.verify(&short).unwrap(), first);
        // Past `exp`: the remembered caller is not served, and the full check refuses.
        std::thread::sleep(Duration::from_millis(2_100));
        let refused = verifier.verify(&short).unwrap_err();
        assert!(refused.to_string().contains("expired"), "{refused}");
    }

    #[test]
    fn a_token_of_a_rotated_out_key_is_refused_after_the_refresh() {
        let (old, new) = (signing_key(), signing_key());
        let verifier = verifier_trusting(&old);
        let token = token(&old, Duration::from_secs(3_600));
        verifier.verify(&token).expect("signed by a trusted key");
        verifier.replace_keys(KeySet::default().with(new.verification_key()));
        assert!(verifier.verify(&token).is_err(), "served from the cache");
    }

    #[test]
    fn a_refused_token_is_not_remembered() {
        let key = signing_key();
        let verifier = verifier_trusting(&key);
        let expired = token(&key, Duration::ZERO);
        std::thread::sleep(Duration::from_millis(1_100));
        assert!(verifier.verify(&expired).is_err());
        assert!(verifier.cache.is_empty());
    }
}
