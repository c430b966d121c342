//! Appending a write's events to the event log, inside the write's transaction, and
//! reading the log back (the feed, the relay's queue, retention).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::schema::{event_log_state, events};
use crate::crypto::Protection;
use crate::domain::event::{Change, DomainEvent, EventEncoder, EventType};
use crate::domain::identifiers::Npn;
use crate::domain::{AccountId, Error, ProducerId, Version};

/// Advisory lock taken at the end of every write that records events and held until it
/// commits, so event-log positions are handed out in commit order. ("pp-evlog")
const EVENT_LOG_LOCK: i64 = 0x70_70_2d_65_76_6c_6f_67;

// Both return `void`, which has no diesel type: declared `Bool` and only executed, never
// read. Calls with bound arguments, so diesel prepares each once per connection (formatted
// SQL would be parsed on every write).
diesel::define_sql_function! {
    /// Takes a transaction-level advisory lock, waiting for it.
    fn pg_advisory_xact_lock(key: diesel::sql_types::BigInt) -> diesel::sql_types::Bool;
}
diesel::define_sql_function! {
    /// Notifies `channel`'s listeners when the transaction commits.
    fn pg_notify(
        channel: diesel::sql_types::Text,
        payload: diesel::sql_types::Text,
    ) -> diesel::sql_types::Bool;
}

/// The channel the relay listens on; every write with events notifies it on commit.
pub const EVENTS_CHANNEL: &str = "producer_profile_events";

/// What a write needs besides its connection: the keys for sensitive fields, the event
/// encoder, and the trace context of the request (carried into the events' headers).
#[derive(Clone)]
pub struct WriteContext {
    /// The keys for sensitive fields the write seals (SSN, bank account number).
    pub protection: Arc<Protection>,
    /// Encodes the write's events for the log.
    pub encoder: Arc<dyn EventEncoder>,
    /// The W3C trace context of the request, stored with each event.
    pub traceparent: Option<String>,
}

/// Where a write's events belong: the producer and its version before the write.
pub(crate) struct History<'a> {
    /// The producer's account.
    pub account: &'a AccountId,
    /// The producer whose history the events join.
    pub producer: ProducerId,
    /// The producer's NPN, copied into each event.
    pub npn: &'a Npn,
    /// The producer's version before the write (0 for a create); the first event gets the
    /// next one.
    pub version_before: Version,
}

/// Appends one event per change, with consecutive sequences after `version_before`,
/// and returns the producer's version after them. Call it last in the transaction: it
/// takes the event-log lock, which serialises commits from here on.
pub(crate) fn append(
    conn: &mut PgConnection,
    cx: &WriteContext,
    history: History<'_>,
    changes: Vec<Change>,
) -> Result<Version, Error> {
    if changes.is_empty() {
        return Ok(history.version_before);
    }
    diesel::select(pg_advisory_xact_lock(EVENT_LOG_LOCK)).execute(conn)?;
    let mut version = history.version_before;
    // Stored with microsecond precision: round now, so the encoded event and the row agree.
    let now = Utc::now();
    let occurred_at = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
    for change in changes {
        version = version.next();
        let event = DomainEvent {
            id: Uuid::now_v7(),
            account: history.account.clone(),
            producer_id: history.producer,
            npn: history.npn.clone(),
            sequence: version,
            occurred_at,
            change,
        };
        diesel::insert_into(events::table)
            .values((
                events::id.eq(event.id),
                events::account_id.eq(event.account.as_str()),
                events::producer_id.eq(event.producer_id.as_uuid()),
                events::sequence.eq(event.sequence.get()),
                events::event_type.eq(event.change.event_type().to_string()),
                events::resource_id.eq(event.change.state.resource_id()),
                events::occurred_at.eq(event.occurred_at),
                events::payload.eq(cx.encoder.encode(&event)),
                events::traceparent.eq(cx.traceparent.as_deref()),
            ))
            .execute(conn)?;
    }
    diesel::select(pg_notify(EVENTS_CHANNEL, "")).execute(conn)?;
    Ok(version)
}

/// One stored event, as the feed and the relay read it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = events, check_for_backend(diesel::pg::Pg))]
pub struct StoredEvent {
    /// The event's place in the log: handed out in commit order, so a reader that has
    /// seen a position has seen every one before it.
    pub position: i64,
    /// The event's own id (UUID v7).
    pub id: Uuid,
    /// The producer whose history it is in.
    pub producer_id: Uuid,
    /// The CloudEvents type, `producerprofile.{resource}.{action}.v1`.
    pub event_type: String,
    /// When the write recorded it.
    pub occurred_at: DateTime<Utc>,
    /// The encoded `producerprofile.events.v1.Event`.
    pub payload: Vec<u8>,
    /// The W3C trace context of the write, for the relay to carry into Kafka headers.
    pub traceparent: Option<String>,
}

/// Which events a feed page returns.
#[derive(Debug, Clone, Default)]
pub struct FeedFilter {
    /// Empty: every type.
    pub types: Vec<EventType>,
    /// Only this producer's events.
    pub producer: Option<ProducerId>,
}

/// A page of the feed: the events, whether more follow, and the position to resume
/// after (past the last event, or past everything scanned when nothing more matches).
pub struct FeedPage {
    /// In log order, at most the page size.
    pub events: Vec<StoredEvent>,
    /// Whether more matching events follow.
    pub more: bool,
    /// The position the next page starts after.
    pub resume_after: i64,
}

/// Up to `size` of the account's events after `after`, in log (commit) order, read from
/// one snapshot. A cursor the retention purge has passed is refused: the events it would
/// have led to may be gone.
pub fn feed(
    conn: &mut PgConnection,
    account: &AccountId,
    after: i64,
    filter: &FeedFilter,
    size: usize,
) -> Result<FeedPage, Error> {
    super::in_snapshot(conn, |conn| {
        let purged_through: i64 = event_log_state::table
            .select(event_log_state::purged_through)
            .first(conn)?;
        if after > 0 && after < purged_through {
            return Err(Error::OutOfRange(
                "the cursor is older than the event retention: events after it were deleted; \
                 start again from an empty cursor and reconcile with the List RPCs"
                    .into(),
            ));
        }
        let mut query = events::table
            .filter(events::account_id.eq(account.as_str()))
            .filter(events::position.gt(after))
            .select(StoredEvent::as_select())
            .order(events::position.asc())
            .limit(size as i64 + 1)
            .into_boxed();
        if !filter.types.is_empty() {
            let names: Vec<String> = filter.types.iter().map(ToString::to_string).collect();
            query = query.filter(events::event_type.eq_any(names));
        }
        if let Some(producer) = filter.producer {
            query = query.filter(events::producer_id.eq(producer.as_uuid()));
        }
        let mut rows = query.load(conn)?;
        let more = rows.len() > size;
        rows.truncate(size);
        let resume_after = if more {
            rows.last().map_or(after, |row| row.position)
        } else {
            // Nothing more matches now: resume past everything this account has, so a
            // filtered poll does not rescan what it already passed over.
            events::table
                .filter(events::account_id.eq(account.as_str()))
                .select(diesel::dsl::max(events::position))
                .first::<Option<i64>>(conn)?
                .unwrap_or(after)
                .max(after)
        };
        Ok(FeedPage {
            events: rows,
            more,
            resume_after,
        })
    })
}

/// Locks and returns up to `size` unpublished events, oldest first, skipping rows another
/// relay holds: the claim of a [`super::session::ClaimedBatch`] that [`mark_published`]
/// settles.
pub fn claim_unpublished(conn: &mut PgConnection, size: usize) -> Result<Vec<StoredEvent>, Error> {
    Ok(events::table
        .filter(events::published_at.is_null())
        .select(StoredEvent::as_select())
        .order(events::position.asc())
        .limit(size as i64)
        .for_update()
        .skip_locked()
        .load(conn)?)
}

/// Stamps the events published.
pub fn mark_published(conn: &mut PgConnection, published: &[StoredEvent]) -> Result<(), Error> {
    let positions: Vec<i64> = published.iter().map(|e| e.position).collect();
    diesel::update(events::table.filter(events::position.eq_any(positions)))
        .set(events::published_at.eq(diesel::dsl::now))
        .execute(conn)?;
    Ok(())
}

/// Makes the connection receive the notifications of [`EVENTS_CHANNEL`].
pub fn listen(conn: &mut PgConnection) -> Result<(), Error> {
    diesel::sql_query(format!("LISTEN {EVENTS_CHANNEL}")).execute(conn)?;
    Ok(())
}

/// Whether events were committed since the last look (a notification arrived on a
/// listening connection): a local read, no query.
pub fn notified(conn: &mut PgConnection) -> Result<bool, Error> {
    let mut any = false;
    for notification in conn.notifications_iter() {
        notification?;
        any = true;
    }
    Ok(any)
}

/// How many events wait to be published, and since when the oldest waits.
pub fn backlog(conn: &mut PgConnection) -> Result<(i64, Option<DateTime<Utc>>), Error> {
    let (count, oldest) = events::table
        .filter(events::published_at.is_null())
        .select((
            diesel::dsl::count_star(),
            diesel::dsl::min(events::occurred_at),
        ))
        .first::<(i64, Option<DateTime<Utc>>)>(conn)?;
    Ok((count, oldest))
}

/// Deletes up to `limit` published events older than `cutoff`, and raises the purge
/// watermark to the highest position deleted; returns how many.
pub fn purge_published_before(
    conn: &mut PgConnection,
    cutoff: DateTime<Utc>,
    limit: i64,
) -> Result<usize, Error> {
    conn.transaction(|conn| {
        #[derive(QueryableByName)]
        struct Purged {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            position: i64,
        }
        let purged: Vec<Purged> = diesel::sql_query(
            "DELETE FROM events WHERE position IN \
             (SELECT position FROM events WHERE published_at < $1 ORDER BY position LIMIT $2) \
             RETURNING position",
        )
        .bind::<diesel::sql_types::Timestamptz, _>(cutoff)
        .bind::<diesel::sql_types::BigInt, _>(limit)
        .load(conn)?;
        if let Some(highest) = purged.iter().map(|p| p.position).max() {
            diesel::sql_query(
                "UPDATE event_log_state SET purged_through = GREATEST(purged_through, $1)",
            )
            .bind::<diesel::sql_types::BigInt, _>(highest)
            .execute(conn)?;
        }
        Ok(purged.len())
    })
}
