//! The `create_requests` table: idempotency keys of creates.

use diesel::prelude::*;
use uuid::Uuid;

use super::schema::create_requests;
use crate::domain::{AccountId, Error, RequestId, Violations};

/// An idempotency key and the keyed fingerprint of the request it came with (operation,
/// parent and body: the same key on another operation or parent counts as another body).
///
/// Keys belong to the OAuth client that sent them: another client of the account cannot
/// replay (or probe, by comparing outcomes) a create it did not make.
pub struct Idempotency {
    key: String,
    pub fingerprint: [u8; 32],
}

impl Idempotency {
    pub fn new(client: Option<&str>, request_id: &RequestId, fingerprint: [u8; 32]) -> Self {
        Self {
            key: format!(
                "{}\u{1f}{}",
                client.unwrap_or_default(),
                request_id.as_str()
            ),
            fingerprint,
        }
    }
}

/// What a create with an idempotency key should do.
pub enum Claim {
    /// The key is new: create, as `resource_id`.
    Created,
    /// The key was used before, with the same request: answer with this resource.
    Replay(Uuid),
}

/// Claims `key` for `resource_id` in the caller's transaction, or tells which resource an
/// earlier request with the same key and body created. The same key with another body
/// is INVALID_ARGUMENT on `request_id`.
pub fn claim_or_replay(
    conn: &mut PgConnection,
    account: &AccountId,
    key: &Idempotency,
    resource_id: Uuid,
) -> Result<Claim, Error> {
    if claim(conn, account, &key.key, &key.fingerprint, resource_id)? {
        return Ok(Claim::Created);
    }
    let recorded = find(conn, account, &key.key)?
        .ok_or_else(|| Error::Internal("a claimed request id vanished".into()))?;
    if recorded.fingerprint != key.fingerprint {
        return Err(Violations::one(
            "request_id",
            "was already used with a different request body",
        )
        .into());
    }
    Ok(Claim::Replay(recorded.resource_id))
}

/// What the first create with a key recorded.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = create_requests, check_for_backend(diesel::pg::Pg))]
pub struct RecordedRequest {
    pub fingerprint: Vec<u8>,
    pub resource_id: Uuid,
}

/// Records the key unless it is already recorded; `true` when this call recorded it.
///
/// When another transaction holds the same key uncommitted, Postgres makes this wait for
/// it: afterwards the key is either free (it rolled back) or visibly taken.
fn claim(
    conn: &mut PgConnection,
    account: &AccountId,
    request_id: &str,
    fingerprint: &[u8],
    resource_id: Uuid,
) -> QueryResult<bool> {
    let inserted = diesel::insert_into(create_requests::table)
        .values((
            create_requests::account_id.eq(account.as_str()),
            create_requests::request_id.eq(request_id),
            create_requests::fingerprint.eq(fingerprint),
            create_requests::resource_id.eq(resource_id),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(inserted == 1)
}

fn find(
    conn: &mut PgConnection,
    account: &AccountId,
    request_id: &str,
) -> QueryResult<Option<RecordedRequest>> {
    create_requests::table
        .find((account.as_str(), request_id))
        .select(RecordedRequest::as_select())
        .first(conn)
        .optional()
}
