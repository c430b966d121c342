//! Small things every handler does with a request: find the caller and check a scope,
//! know today's date, and fingerprint a create for idempotency.

use chrono::{NaiveDate, Utc};
use tonic::{Request, Status};

use super::authn::caller;
use crate::auth::{Caller, Scope};
use crate::crypto::{Protection, REQUEST_FINGERPRINT_LABEL};
use crate::domain::AccountId;
use crate::domain::producer::SsnView;

/// The caller, after checking it holds `scope`; records the account on the current span.
pub fn authorize<T>(request: &Request<T>, scope: Scope) -> Result<Caller, Status> {
    let caller = caller(request)?;
    tracing::Span::current().record("account", caller.account.as_str());
    caller.require(scope)?;
    Ok(caller)
}

/// The caller without a scope check (handlers that check their own scope).
pub fn identify<T>(request: &Request<T>) -> Result<Caller, Status> {
    let caller = caller(request)?;
    tracing::Span::current().record("account", caller.account.as_str());
    Ok(caller)
}

/// Today in UTC: the anchor of "not in the future" rules.
pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// How much of the SSN this caller may see.
pub fn ssn_view(caller: &Caller) -> SsnView {
    if caller.may_read_pii() {
        SsnView::Full
    } else {
        SsnView::LastFourOnly
    }
}

/// The keyed fingerprint of a create's significant bytes for `operation`: the same
/// idempotency key sent with another operation or body is told apart, and the
/// fingerprint reveals nothing of a body holding an SSN or account number.
pub fn fingerprint(
    protection: &Protection,
    account: &AccountId,
    operation: &str,
    body: &[u8],
) -> [u8; 32] {
    let label = format!("{REQUEST_FINGERPRINT_LABEL}:{operation}");
    protection.hasher.hash(&label, account.as_str(), body)
}
