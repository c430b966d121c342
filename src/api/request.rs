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

/// The W3C trace context to store with this request's events: the current span's (a
/// child of the caller's, or a new trace), else — tracing not installed — the caller's
/// own `traceparent` when it is well formed.
pub fn traceparent<T>(request: &Request<T>) -> Option<String> {
    crate::telemetry::trace_context::current_traceparent().or_else(|| callers_traceparent(request))
}

/// The request's `traceparent`, when well formed: `version-traceid-parentid-flags` in
/// lower-case hex (2-32-16-2 digits).
fn callers_traceparent<T>(request: &Request<T>) -> Option<String> {
    let value = request.metadata().get("traceparent")?.to_str().ok()?.trim();
    let parts: Vec<&str> = value.split('-').collect();
    let lengths_ok = parts.len() == 4
        && parts
            .iter()
            .zip([2, 32, 16, 2])
            .all(|(part, len)| part.len() == len);
    let hex_ok = parts.iter().all(|part| {
        part.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    (lengths_ok && hex_ok).then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_traceparent(value: &str) -> Request<()> {
        let mut request = Request::new(());
        request
            .metadata_mut()
            .insert("traceparent", value.parse().unwrap());
        request
    }

    #[test]
    fn only_well_formed_trace_contexts_are_kept() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(traceparent(&with_traceparent(good)).as_deref(), Some(good));
        assert_eq!(
            traceparent(&with_traceparent("00-xyz-00f067aa0ba902b7-01")),
            None
        );
        assert_eq!(traceparent(&with_traceparent("garbage")), None);
        assert_eq!(traceparent(&Request::new(())), None);
    }
}
