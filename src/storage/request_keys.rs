//! The `request_keys` table: idempotency keys (AIP-155) of mutations. A mutation sent with
//! a `request_id` claims its key at the start of its transaction and stores its answer
//! at the end of it, so a retry — after a reply lost to a dropped connection, say — finds
//! either both the change and its answer, or neither (and then simply runs).
//!
//! Answers are kept sealed like other sensitive values (AES-256-GCM, bound to the
//! account and key): for a caller with the PII scope an answer holds an SSN, a
//! CreateEndpoint answer holds a signing secret.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::pool::Work;
use super::schema::{create_requests, request_keys};
use crate::crypto::{FieldContext, Protection, SealedValue};
use crate::domain::{AccountId, Error, RequestId, Violations};

/// Column name bound into a sealed answer's associated data.
const ANSWER_FIELD: &str = "request_keys.response";

/// An idempotency key and the keyed fingerprint of the request it came with (the RPC and
/// every other field of the request: the same key with another request counts as
/// another body).
///
/// Keys belong to the OAuth client that sent them: another client of the account cannot
/// replay (or probe, by comparing outcomes) a request it did not make.
#[derive(Clone)]
pub struct RequestKey {
    key: String,
    fingerprint: [u8; 32],
}

impl RequestKey {
    /// The key `request_id` of `client` (an OAuth client id), for a request with
    /// `fingerprint`.
    pub fn new(client: &str, request_id: &RequestId, fingerprint: [u8; 32]) -> Self {
        Self {
            key: format!("{client}\u{1f}{}", request_id.as_str()),
            fingerprint,
        }
    }

    fn context<'a>(&'a self, account: &'a AccountId) -> FieldContext<'a> {
        FieldContext {
            account_id: account.as_str(),
            owner_id: &self.key,
            field: ANSWER_FIELD,
        }
    }
}

/// What a mutation answered, to keep for its retries.
pub struct Answer {
    /// The encoded response.
    pub bytes: Vec<u8>,
    /// The producer the answer describes, if any: deleting it erases the answer.
    pub producer: Option<Uuid>,
}

/// What a mutation run under a key came to.
pub enum Once<T> {
    /// The key was new: the mutation ran, and this is its result.
    Applied(T),
    /// The key was used before with the same request: the answer that call stored.
    Replayed(Vec<u8>),
}

impl super::Database {
    /// Runs `write` on a pooled connection, at most once per `key` when there is one
    /// (see `once`). `answer` is what a retry with the key will be told; it is only
    /// computed when there is a key, so requests without one pay nothing for it.
    pub async fn run_once<T: Send + 'static>(
        &self,
        protection: &Arc<Protection>,
        account: &AccountId,
        key: Option<RequestKey>,
        write: impl Work<T>,
        answer: impl FnOnce(&T) -> Answer + Send + 'static,
    ) -> Result<Once<T>, Error> {
        let done = match key {
            None => Once::Applied(self.run(write).await?),
            Some(key) => {
                let (protection, account) = (protection.clone(), account.clone());
                self.run(move |conn| {
                    once(conn, &protection, &account, &key, |conn| {
                        let result = write(conn)?;
                        let kept = answer(&result);
                        Ok((result, kept))
                    })
                })
                .await?
            }
        };
        if matches!(done, Once::Applied(_)) {
            self.note_committed();
        }
        Ok(done)
    }

    /// The answer a committed call with `key` stored, if there is one.
    pub async fn replayed(
        &self,
        protection: &Arc<Protection>,
        account: &AccountId,
        key: &RequestKey,
    ) -> Result<Option<Vec<u8>>, Error> {
        let (protection, account, key) = (protection.clone(), account.clone(), key.clone());
        self.run(move |conn| recorded(conn, &protection, &account, &key))
            .await
    }
}

/// Runs `write` at most once per key, in one transaction with the key's claim and the
/// stored answer. `write` returns its result and the answer to keep. The same key with
/// another request is INVALID_ARGUMENT on `request_id`.
///
/// A second call with a key whose first call is still running waits for it (Postgres
/// holds the key's row), then replays its answer — or runs, if the first rolled back.
fn once<T>(
    conn: &mut PgConnection,
    protection: &Protection,
    account: &AccountId,
    key: &RequestKey,
    write: impl FnOnce(&mut PgConnection) -> Result<(T, Answer), Error>,
) -> Result<Once<T>, Error> {
    conn.transaction(|conn| {
        // Twice at most: a key found taken can be purged before it is read.
        for _ in 0..2 {
            if claim(conn, account, key)? {
                if used_by_previous_release(conn, account, key)? {
                    return Err(Error::AlreadyExists(
                        "this request_id was used by a create before this version: that \
                         create was applied; read the resource instead of retrying"
                            .into(),
                    ));
                }
                let (result, answer) = write(conn)?;
                let sealed = protection.cipher.seal(&answer.bytes, &key.context(account));
                diesel::update(request_keys::table.find((account.as_str(), &key.key)))
                    .set((
                        request_keys::response_ciphertext.eq(sealed.bytes),
                        request_keys::response_key_id.eq(sealed.key_id),
                        request_keys::producer_id.eq(answer.producer),
                    ))
                    .execute(conn)?;
                return Ok(Once::Applied(result));
            }
            if let Some(answer) = recorded(conn, protection, account, key)? {
                return Ok(Once::Replayed(answer));
            }
        }
        Err(Error::Unavailable(
            "a request key was claimed and forgotten meanwhile; retry".into(),
        ))
    })
}

/// The answer a call with this key stored, if one committed. For mutations with work
/// before their transaction (a webhook verification request) to skip it on a retry.
/// An answer erased with the producer it described is NOT_FOUND.
fn recorded(
    conn: &mut PgConnection,
    protection: &Protection,
    account: &AccountId,
    key: &RequestKey,
) -> Result<Option<Vec<u8>>, Error> {
    let Some(row) = request_keys::table
        .find((account.as_str(), &key.key))
        .select(KeyRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    if row.fingerprint != key.fingerprint {
        return Err(Violations::one(
            "request_id",
            "was already used with a different request: use a new request_id for a new change",
        )
        .into());
    }
    let (Some(bytes), Some(key_id)) = (row.response_ciphertext, row.response_key_id) else {
        return Err(Error::NotFound(
            "producer (the call with this request_id was applied, but the producer it \
             changed was deleted since, and its answer with it)",
        ));
    };
    let sealed = SealedValue { key_id, bytes };
    protection
        .cipher
        .open(&sealed, &key.context(account))
        .map(Some)
        .map_err(|e| Error::Internal(format!("a stored answer does not open: {e}")))
}

/// Erases the answers kept about `producer` (its data, an SSN among it, must not outlive
/// it): a replay of those calls answers NOT_FOUND. Call it in the producer's delete.
pub fn erase_answers_about(
    conn: &mut PgConnection,
    account: &AccountId,
    producer: Uuid,
) -> Result<usize, Error> {
    Ok(diesel::update(
        request_keys::table
            .filter(request_keys::account_id.eq(account.as_str()))
            .filter(request_keys::producer_id.eq(producer)),
    )
    .set((
        request_keys::response_ciphertext.eq(None::<Vec<u8>>),
        request_keys::response_key_id.eq(None::<String>),
        request_keys::producer_id.eq(None::<Uuid>),
    ))
    .execute(conn)?)
}

/// Forgets keys recorded before `cutoff` (this release's and the previous one's), up to
/// `limit` of each; returns how many.
pub fn purge_before(
    conn: &mut PgConnection,
    cutoff: DateTime<Utc>,
    limit: i64,
) -> Result<usize, Error> {
    let mut purged = 0;
    for table in ["request_keys", "create_requests"] {
        purged += diesel::sql_query(format!(
            "DELETE FROM {table} WHERE (account_id, request_id) IN \
             (SELECT account_id, request_id FROM {table} WHERE created_at < $1 LIMIT $2)"
        ))
        .bind::<diesel::sql_types::Timestamptz, _>(cutoff)
        .bind::<diesel::sql_types::BigInt, _>(limit)
        .execute(conn)?;
    }
    Ok(purged)
}

/// Whether the previous release recorded this key for a create (in `create_requests`,
/// which pods of that version still write during a rolling upgrade).
fn used_by_previous_release(
    conn: &mut PgConnection,
    account: &AccountId,
    key: &RequestKey,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        create_requests::table.find((account.as_str(), &key.key)),
    ))
    .get_result(conn)
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = request_keys, check_for_backend(diesel::pg::Pg))]
struct KeyRow {
    fingerprint: Vec<u8>,
    response_ciphertext: Option<Vec<u8>>,
    response_key_id: Option<String>,
}

/// Records the key unless it is already recorded; `true` when this call recorded it.
///
/// When another transaction holds the same key uncommitted, Postgres makes this wait for
/// it: afterwards the key is either free (it rolled back) or visibly taken.
fn claim(conn: &mut PgConnection, account: &AccountId, key: &RequestKey) -> QueryResult<bool> {
    let inserted = diesel::insert_into(request_keys::table)
        .values((
            request_keys::account_id.eq(account.as_str()),
            request_keys::request_id.eq(&key.key),
            request_keys::fingerprint.eq(&key.fingerprint[..]),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(inserted == 1)
}
