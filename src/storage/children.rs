//! The frame of every write to a producer's children: one transaction that locks the
//! producer row, checks the caller's expected version, runs the write, and moves the
//! producer's version on by the number of resources the write changed.
//!
//! Locking the producer serialises all writes to one producer's children, which is what
//! keeps "at most one preferred/primary" true under concurrent requests and makes the
//! version a gap-free count of changes.

use diesel::dsl::now;
use diesel::prelude::*;

use super::outbox::{self, History, WriteContext};
use super::schema::producers;
use crate::domain::child::{ParentTarget, Versioned};
use crate::domain::event::Change;
use crate::domain::identifiers::Npn;
use crate::domain::{AccountId, Error, ProducerId, Version};

/// Runs `write` inside the producer's lock. `write` returns its result and the changes
/// it made (a cleared "preferred" flag on a sibling is a change of that sibling); each
/// change becomes an event and moves the producer's version on by one.
pub fn in_producer_lock<T>(
    conn: &mut PgConnection,
    cx: &WriteContext,
    parent: &ParentTarget,
    write: impl FnOnce(&mut PgConnection) -> Result<(T, Vec<Change>), Error>,
) -> Result<Versioned<T>, Error> {
    conn.transaction(|conn| {
        let target = producers::table.find((parent.account.as_str(), parent.producer.as_uuid()));
        let (current, npn): (i64, String) = target
            .select((producers::version, producers::npn))
            .for_update()
            .first(conn)
            .optional()?
            .ok_or(Error::NotFound("producer"))?;
        let current = Version::new(current);
        Version::ensure_current(parent.expected, current)?;
        let (item, changes) = write(conn)?;
        if changes.is_empty() {
            return Ok(Versioned {
                item,
                producer_version: current,
            });
        }
        let after = current.get() + changes.len() as i64;
        diesel::update(target)
            .set((producers::version.eq(after), producers::updated_at.eq(now)))
            .execute(conn)?;
        let npn = Npn::parse(&npn).map_err(|_| {
            Error::Internal(format!(
                "producer {} has an invalid stored npn",
                parent.producer
            ))
        })?;
        let history = History {
            account: &parent.account,
            producer: parent.producer,
            npn: &npn,
            version_before: current,
        };
        let producer_version = outbox::append(conn, cx, history, changes)?;
        Ok(Versioned {
            item,
            producer_version,
        })
    })
}

/// The producer's current version, or NOT_FOUND: every child read checks its producer
/// exists in the caller's account first.
pub fn producer_version(
    conn: &mut PgConnection,
    account: &AccountId,
    producer: ProducerId,
) -> Result<Version, Error> {
    producers::table
        .find((account.as_str(), producer.as_uuid()))
        .select(producers::version)
        .first::<i64>(conn)
        .optional()?
        .map(Version::new)
        .ok_or(Error::NotFound("producer"))
}

/// Generates the queries every child table answers the same way, for a table keyed by
/// (account_id, producer_id, id) with a row type that has `into_domain`:
/// `load` (one row, optionally locked), `find`, `list` (keyset pages by id), `list_all`
/// and `delete`. Creates and updates differ per table and are written out in its module.
macro_rules! child_queries {
    (table: $table:ident, row: $row:ident, id: $id:ty, item: $item:ty, name: $name:literal, state: $state:path) => {
        fn load(
            conn: &mut PgConnection,
            account: &AccountId,
            producer: ProducerId,
            id: $id,
            lock: bool,
        ) -> Result<$item, Error> {
            let query = $table::table
                .find((account.as_str(), producer.as_uuid(), id.as_uuid()))
                .select($row::as_select());
            let row = if lock {
                query.for_update().first(conn).optional()?
            } else {
                query.first(conn).optional()?
            };
            row.ok_or(Error::NotFound($name))?.into_domain()
        }

        #[doc = concat!("One ", $name, " of the producer, with the producer's version.")]
        pub fn find(
            conn: &mut PgConnection,
            account: &AccountId,
            producer: ProducerId,
            id: $id,
        ) -> Result<Versioned<$item>, Error> {
            // Also called inside a create's transaction (a replayed create): no snapshot
            // transaction of its own.
            let producer_version = super::children::producer_version(conn, account, producer)?;
            let item = load(conn, account, producer, id, false)?;
            Ok(Versioned {
                item,
                producer_version,
            })
        }

        #[doc = concat!("A page of the producer's ", $name, " records, oldest first.")]
        pub fn list(
            conn: &mut PgConnection,
            account: &AccountId,
            producer: ProducerId,
            page: PageRequest<$id>,
        ) -> Result<Versioned<Page<$item>>, Error> {
            super::in_snapshot(conn, |conn| {
                let producer_version = super::children::producer_version(conn, account, producer)?;
                let mut query = $table::table
                    .filter($table::account_id.eq(account.as_str()))
                    .filter($table::producer_id.eq(producer.as_uuid()))
                    .select($row::as_select())
                    .order($table::id.asc())
                    .limit(page.size.get() as i64 + 1)
                    .into_boxed();
                if let Some(after) = page.after {
                    query = query.filter($table::id.gt(after.as_uuid()));
                }
                let rows = query.load::<$row>(conn)?;
                let item = super::page_of(rows, page.size, $row::into_domain)?;
                Ok(Versioned {
                    item,
                    producer_version,
                })
            })
        }

        #[doc = concat!("Every ", $name, " of the producer, oldest first (for the full view).")]
        pub fn list_all(
            conn: &mut PgConnection,
            account: &AccountId,
            producer: ProducerId,
        ) -> Result<Vec<$item>, Error> {
            $table::table
                .filter($table::account_id.eq(account.as_str()))
                .filter($table::producer_id.eq(producer.as_uuid()))
                .select($row::as_select())
                .order($table::id.asc())
                .load::<$row>(conn)?
                .into_iter()
                .map($row::into_domain)
                .collect()
        }

        #[doc = concat!("Removes the ", $name, ", after checking the producer's expected version.")]
        pub fn delete(
            conn: &mut PgConnection,
            cx: &super::outbox::WriteContext,
            parent: &ParentTarget,
            id: $id,
        ) -> Result<Versioned<()>, Error> {
            super::children::in_producer_lock(conn, cx, parent, |conn| {
                let key = (
                    parent.account.as_str(),
                    parent.producer.as_uuid(),
                    id.as_uuid(),
                );
                // The producer's lock is held: the row goes, and comes back for its event.
                let last = diesel::delete($table::table.find(key))
                    .returning($row::as_returning())
                    .get_result(conn)
                    .optional()?
                    .ok_or(Error::NotFound($name))?
                    .into_domain()?;
                Ok((
                    (),
                    vec![crate::domain::event::Change::deleted($state(last))],
                ))
            })
        }
    };
}
