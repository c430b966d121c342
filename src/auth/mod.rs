//! Who is calling: OAuth 2.0 access tokens (RFC 9068 JWTs) verified against the issuer's
//! JWKS, turned into a [`Caller`] with an account and scopes.

pub mod dev_key;
pub mod jwks;
pub mod token_cache;
pub mod verifier;

use std::fmt;

use crate::domain::AccountId;

pub use dev_key::{DevKeyError, DevSigningKey};
pub use jwks::{JwksError, JwksSource, KeySet, VerificationKey};
pub use verifier::{TokenVerifier, VerifierSettings};

/// A permission carried in the token's `scope` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `producers:read`: read producers and their children.
    ProducersRead,
    /// `producers:write`: create, change and delete producers and their children.
    ProducersWrite,
    /// Read sensitive values (the full SSN) in clear.
    ProducersPii,
    /// `webhooks:manage`: manage webhook endpoints and their deliveries.
    WebhooksManage,
    /// `events:read`: read the event feed (ListEvents).
    EventsRead,
}

impl Scope {
    /// Every scope this service knows.
    pub const ALL: [Scope; 5] = [
        Scope::ProducersRead,
        Scope::ProducersWrite,
        Scope::ProducersPii,
        Scope::WebhooksManage,
        Scope::EventsRead,
    ];

    /// The name in the `scope` claim, e.g. `producers:read`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Scope::ProducersRead => "producers:read",
            Scope::ProducersWrite => "producers:write",
            Scope::ProducersPii => "producers:pii",
            Scope::WebhooksManage => "webhooks:manage",
            Scope::EventsRead => "events:read",
        }
    }

    /// Scopes this service does not know are ignored: a token may carry other services'.
    pub fn from_name(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == name)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scopes a caller holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scopes(u8);

impl Scopes {
    /// Reads a space-separated `scope` claim.
    pub fn parse(claim: &str) -> Self {
        claim
            .split_whitespace()
            .filter_map(Scope::from_name)
            .collect()
    }

    /// Whether `scope` is among them.
    pub fn contains(&self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Scopes(iter.into_iter().fold(0, |bits, scope| bits | scope.bit()))
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The tenant from the configured account claim: every call is confined to it.
    pub account: AccountId,
    /// What the token allows; scopes of other services are dropped.
    pub scopes: Scopes,
    /// The OAuth client, for logs (`client_id`, else `sub`).
    pub client_id: Option<String>,
}

impl Caller {
    /// `Ok` when the caller holds `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), AuthError> {
        if self.scopes.contains(scope) {
            Ok(())
        } else {
            Err(AuthError::MissingScope(scope))
        }
    }

    /// Whether full SSNs may be read in clear (the `producers:pii` scope).
    pub fn may_read_pii(&self) -> bool {
        self.scopes.contains(Scope::ProducersPii)
    }
}

/// Why a call was refused before it reached the service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No bearer token in the `authorization` metadata: UNAUTHENTICATED.
    #[error("missing bearer token: send `authorization: Bearer <access token>`")]
    MissingToken,
    /// The token failed a check (the reason says which): UNAUTHENTICATED.
    #[error("invalid access token: {0}")]
    InvalidToken(String),
    /// A valid token without the scope the call needs: PERMISSION_DENIED.
    #[error("the access token lacks the `{0}` scope")]
    MissingScope(Scope),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_known_names_and_ignore_others() {
        let scopes = Scopes::parse("producers:read  other:thing producers:pii");
        assert!(scopes.contains(Scope::ProducersRead));
        assert!(scopes.contains(Scope::ProducersPii));
        assert!(!scopes.contains(Scope::ProducersWrite));
        assert_eq!(Scopes::parse(""), Scopes::default());
        for scope in Scope::ALL {
            assert_eq!(Scope::from_name(scope.as_str()), Some(scope));
        }
    }
}
