//! Access-token verification: signature against the trusted key set, then `iss`, `aud`,
//! `exp`/`nbf` (with leeway), the RFC 9068 `typ`, the account claim and the scopes.

use std::sync::{Arc, RwLock};

use jsonwebtoken::{Algorithm, Validation, decode, decode_header};
use serde_json::{Map, Value};

use super::jwks::{ALLOWED_ALGORITHMS, KeySet};
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
}

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
        }
    }

    /// Swaps in a freshly loaded key set.
    pub fn replace_keys(&self, keys: KeySet) {
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
    }

    fn current_keys(&self) -> Arc<KeySet> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The caller a token stands for, or why it stands for no one.
    pub fn verify(&self, token: &str) -> Result<Caller, AuthError> {
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
        self.caller_from(&claims)
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
