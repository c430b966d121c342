//! Small things every handler does with a request: find the caller and check a scope,
//! know today's date, parse bounded lists, and fingerprint a request for idempotency.

use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use prost::Message;
use tonic::{Request, Status};
use uuid::Uuid;

use super::authn::caller;
use crate::auth::{Caller, Scope};
use crate::crypto::{Protection, REQUEST_FINGERPRINT_LABEL};
use crate::domain::producer::SsnView;
use crate::domain::{AccountId, Error, InvalidValue, RequestId, Violations};
use crate::storage::request_keys::{Answer, Once, RequestKey};
use crate::storage::{Database, Work};

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

/// Parses each entry of a repeated request field, reporting failures as `field[i]`. A
/// list longer than `max` is one violation on `field` and its entries are not looked
/// at: a huge list of bad entries must not earn a huge answer.
pub fn checked_list<T>(
    violations: &mut Violations,
    field: &str,
    raw: &[String],
    max: usize,
    parse: impl Fn(&str) -> Result<T, InvalidValue>,
) -> Vec<T> {
    if raw.len() > max {
        violations.add(
            field,
            format!("must list at most {max} entries (it lists {})", raw.len()),
        );
        return Vec::new();
    }
    raw.iter()
        .enumerate()
        .filter_map(|(i, entry)| violations.check(&format!("{field}[{i}]"), parse(entry)))
        .collect()
}

/// How much of the SSN this caller may see.
pub fn ssn_view(caller: &Caller) -> SsnView {
    if caller.may_read_pii() {
        SsnView::Full
    } else {
        SsnView::LastFourOnly
    }
}

/// The idempotency input of a mutating request (AIP-155): its `request_id` and the
/// rest of the request, encoded, to tell a retry from another request with the same id.
pub struct Retry {
    operation: &'static str,
    request_id: String,
    rest: Vec<u8>,
}

impl Retry {
    /// `rest` is the request with its `request_id` taken out. Encoded only when a
    /// `request_id` was sent: requests without one pay nothing.
    pub fn new(operation: &'static str, request_id: String, rest: &impl Message) -> Self {
        let rest = if request_id.is_empty() {
            Vec::new()
        } else {
            rest.encode_to_vec()
        };
        Self {
            operation,
            request_id,
            rest,
        }
    }

    /// [`Retry::new`] for a request whose `request_id` is the field `request_id` finds:
    /// takes the id out, and keeps the rest.
    pub fn take<M: Message>(
        operation: &'static str,
        request: &mut M,
        request_id: impl FnOnce(&mut M) -> &mut String,
    ) -> Self {
        let id = std::mem::take(request_id(request));
        Self::new(operation, id, request)
    }

    /// The request's key, `None` without a `request_id`; a malformed one is a violation
    /// of `request_id`. The fingerprint is keyed (the request may hold an SSN or an
    /// account number, which a plain hash would let anyone brute-force) and covers
    /// whether the caller may see PII: an answer kept for a caller who could see the
    /// SSN is never replayed to one who cannot.
    pub fn key(
        &self,
        violations: &mut Violations,
        protection: &Protection,
        caller: &Caller,
    ) -> Option<RequestKey> {
        let request_id =
            violations.check_optional("request_id", RequestId::parse(&self.request_id))?;
        let Some(client) = caller.client_id.as_deref() else {
            // Keys belong to a client: without one, every such caller of the account
            // would replay the others' answers.
            violations.add(
                "request_id",
                "needs an access token that names its client (client_id or sub)",
            );
            return None;
        };
        let view = match ssn_view(caller) {
            SsnView::Full => "pii",
            SsnView::LastFourOnly => "masked",
        };
        let label = format!("{REQUEST_FINGERPRINT_LABEL}:{}:{view}", self.operation);
        let fingerprint = protection
            .hasher
            .hash(&label, caller.account.as_str(), &self.rest);
        Some(RequestKey::new(client, &request_id, fingerprint))
    }
}

/// Whether a mutation ran now, or a retry got the answer of the call that ran before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ran {
    Now,
    Before,
}

/// Runs a mutation on the database at most once per `key`: without a key it simply
/// runs; with one already used for the same request it answers what that call answered
/// (its response, decoded) and changes nothing. `about` names the producer the answer
/// describes (deleting it erases the kept answer).
pub async fn run_once<M>(
    db: &Database,
    protection: &Arc<Protection>,
    account: &AccountId,
    key: Option<RequestKey>,
    about: impl FnOnce(&M) -> Option<Uuid> + Send + 'static,
    write: impl Work<M>,
) -> Result<(M, Ran), Error>
where
    M: Message + Default + Send + 'static,
{
    let answer = move |response: &M| Answer {
        bytes: response.encode_to_vec(),
        producer: about(response),
    };
    match db.run_once(protection, account, key, write, answer).await? {
        Once::Applied(response) => Ok((response, Ran::Now)),
        Once::Replayed(answer) => {
            tracing::info!("a retry: answered as the call that ran before");
            Ok((decode_answer(&answer)?, Ran::Before))
        }
    }
}

/// The answer a committed call with `key` stored, if there is one: for mutations that
/// do work before their transaction (a webhook endpoint's verification request), so a
/// retry skips it. The same key with another request is INVALID_ARGUMENT.
pub async fn replayed<M>(
    db: &Database,
    protection: &Arc<Protection>,
    account: &AccountId,
    key: Option<&RequestKey>,
) -> Result<Option<M>, Error>
where
    M: Message + Default + Send + 'static,
{
    let Some(key) = key else {
        return Ok(None);
    };
    db.replayed(protection, account, key)
        .await?
        .map(|answer| decode_answer(&answer))
        .transpose()
}

fn decode_answer<M: Message + Default>(answer: &[u8]) -> Result<M, Error> {
    M::decode(answer).map_err(|e| Error::Internal(format!("a stored answer does not decode: {e}")))
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
