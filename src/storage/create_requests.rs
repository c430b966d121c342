//! The `create_requests` table: idempotency keys of creates.

use diesel::prelude::*;
use uuid::Uuid;

use super::schema::create_requests;
use crate::domain::{AccountId, RequestId};

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
pub fn claim(
    conn: &mut PgConnection,
    account: &AccountId,
    request_id: &RequestId,
    fingerprint: &[u8],
    resource_id: Uuid,
) -> QueryResult<bool> {
    let inserted = diesel::insert_into(create_requests::table)
        .values((
            create_requests::account_id.eq(account.as_str()),
            create_requests::request_id.eq(request_id.as_str()),
            create_requests::fingerprint.eq(fingerprint),
            create_requests::resource_id.eq(resource_id),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(inserted == 1)
}

pub fn find(
    conn: &mut PgConnection,
    account: &AccountId,
    request_id: &RequestId,
) -> QueryResult<Option<RecordedRequest>> {
    create_requests::table
        .find((account.as_str(), request_id.as_str()))
        .select(RecordedRequest::as_select())
        .first(conn)
        .optional()
}
