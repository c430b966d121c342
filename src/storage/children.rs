//! The four child tables, written once: each table module implements [`ChildTable`]
//! (the statements that name its columns), and the reads and writes here run them in
//! the same frame for every kind. A write is one transaction that locks the producer
//! row, checks the caller's expected version, clears the single flag on the sibling
//! that held it, writes, and moves the producer's version on by the number of
//! resources the write changed.
//!
//! Locking the producer serialises all writes to one producer's children, which is what
//! keeps "at most one preferred/primary" true under concurrent requests and makes the
//! version a gap-free count of changes.

use diesel::dsl::now;
use diesel::prelude::*;

use super::outbox::{self, History, WriteContext};
use super::schema::producers;
use crate::domain::child::{ChildKind, ChildSecret, ParentTarget, Stored, Versioned};
use crate::domain::event::Change;
use crate::domain::identifiers::Npn;
use crate::domain::ids::ResourceId;
use crate::domain::page::{Page, PageRequest};
use crate::domain::{AccountId, Error, ProducerId, Version};

/// Where one child is: the caller's account, its producer and its id.
#[derive(Debug, Clone, Copy)]
pub struct ChildKey<'a, Id> {
    /// The caller's account.
    pub account: &'a AccountId,
    /// The producer.
    pub producer: ProducerId,
    /// The child.
    pub id: Id,
}

impl<Id: ResourceId> ChildKey<'_, Id> {
    /// The table's primary key.
    pub fn columns(&self) -> (&str, uuid::Uuid, uuid::Uuid) {
        (
            self.account.as_str(),
            self.producer.as_uuid(),
            self.id.as_uuid(),
        )
    }
}

/// Whether a write adds a child or replaces the data of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// A new row.
    Insert,
    /// The row of an existing child.
    Update,
}

/// The statements of one child table, keyed by (account_id, producer_id, id). Each
/// returns the rows as domain values, read back through the input parsers: a stored row
/// that breaks a rule is reported, not served.
pub trait ChildTable: ChildKind {
    /// One child, locked for the transaction when `lock`.
    fn select(
        conn: &mut PgConnection,
        key: &ChildKey<'_, Self::Id>,
        lock: bool,
    ) -> Result<Option<Stored<Self>>, Error>;

    /// The producer's children in id order after `after`, at most `limit` of them.
    fn select_page(
        conn: &mut PgConnection,
        account: &AccountId,
        producer: ProducerId,
        after: Option<Self::Id>,
        limit: Option<i64>,
    ) -> Result<Vec<Stored<Self>>, Error>;

    /// Inserts a new child, or replaces a child's data (and its secret, when one is
    /// given); a kind with a secret requires it on insert.
    fn write(
        conn: &mut PgConnection,
        cx: &WriteContext,
        key: &ChildKey<'_, Self::Id>,
        write: WriteKind,
        data: &Self::Data,
        secret: Option<&Self::Secret>,
    ) -> Result<Stored<Self>, Error>;

    /// Deletes a child and returns it as it was.
    fn delete(
        conn: &mut PgConnection,
        key: &ChildKey<'_, Self::Id>,
    ) -> Result<Option<Stored<Self>>, Error>;

    /// Clears the flag `data` holds (see [`ChildKind::holds_flag`]) on every other child
    /// of the producer; returns them as they are now. (Required, so that a kind with a
    /// flag cannot forget it.)
    fn clear_flag(
        conn: &mut PgConnection,
        key: &ChildKey<'_, Self::Id>,
        data: &Self::Data,
    ) -> Result<Vec<Stored<Self>>, Error>;
}

/// One child of the producer, with the producer's version.
pub fn find<T: ChildTable>(
    conn: &mut PgConnection,
    account: &AccountId,
    producer: ProducerId,
    id: T::Id,
) -> Result<Versioned<Stored<T>>, Error> {
    let producer_version = producer_version(conn, account, producer)?;
    let key = ChildKey {
        account,
        producer,
        id,
    };
    let item = T::select(conn, &key, false)?.ok_or(Error::NotFound(T::NAME))?;
    Ok(Versioned {
        item,
        producer_version,
    })
}

/// A page of the producer's children, oldest first.
pub fn list<T: ChildTable>(
    conn: &mut PgConnection,
    account: &AccountId,
    producer: ProducerId,
    page: PageRequest<T::Id>,
) -> Result<Versioned<Page<Stored<T>>>, Error> {
    super::in_snapshot(conn, |conn| {
        let producer_version = producer_version(conn, account, producer)?;
        let limit = page.size.get() as i64 + 1;
        let rows = T::select_page(conn, account, producer, page.after, Some(limit))?;
        Ok(Versioned {
            item: super::page_of(rows, page.size, Ok)?,
            producer_version,
        })
    })
}

/// Every child of the producer, oldest first (for the full view).
pub fn list_all<T: ChildTable>(
    conn: &mut PgConnection,
    account: &AccountId,
    producer: ProducerId,
) -> Result<Vec<Stored<T>>, Error> {
    T::select_page(conn, account, producer, None, None)
}

/// Every child of kind `T` of the producer, as the events of their deletion.
pub(super) fn deletions<T: ChildTable>(
    conn: &mut PgConnection,
    account: &AccountId,
    producer: ProducerId,
) -> Result<Vec<Change>, Error> {
    let children = list_all::<T>(conn, account, producer)?;
    Ok(children
        .into_iter()
        .map(|child| Change::deleted(T::state(child)))
        .collect())
}

/// Adds a child to the producer. A child that takes the flag takes it from its holder
/// first: applied in order, the events never show two holders at once.
pub fn create<T: ChildTable>(
    conn: &mut PgConnection,
    cx: &WriteContext,
    parent: &ParentTarget,
    data: &T::Data,
    secret: Option<&T::Secret>,
) -> Result<Versioned<Stored<T>>, Error> {
    let key = ChildKey {
        account: &parent.account,
        producer: parent.producer,
        id: T::Id::generate(),
    };
    in_producer_lock(conn, cx, parent, |conn| {
        let mut changes = clear_flag::<T>(conn, &key, data)?;
        let created = T::write(conn, cx, &key, WriteKind::Insert, data, secret)?;
        changes.push(Change::created(T::state(created.clone())));
        Ok((created, changes))
    })
}

/// Replaces the child's data with what `change` derives from it (and its secret, when
/// `change` gives one). Unchanged data writes nothing and keeps the producer's version.
pub fn update<T: ChildTable>(
    conn: &mut PgConnection,
    cx: &WriteContext,
    parent: &ParentTarget,
    id: T::Id,
    change: impl FnOnce(&Stored<T>) -> Result<(T::Data, Option<T::Secret>), Error>,
) -> Result<Versioned<Stored<T>>, Error> {
    let key = ChildKey {
        account: &parent.account,
        producer: parent.producer,
        id,
    };
    in_producer_lock(conn, cx, parent, |conn| {
        let current = T::select(conn, &key, true)?.ok_or(Error::NotFound(T::NAME))?;
        let (data, secret) = change(&current)?;
        if data == current.data && secret.is_none() {
            return Ok((current, Vec::new()));
        }
        let mut changes = clear_flag::<T>(conn, &key, &data)?;
        let updated = T::write(conn, cx, &key, WriteKind::Update, &data, secret.as_ref())?;
        let mut change = Change::updated(T::state(current), T::state(updated.clone()));
        if secret.is_some() {
            // A new secret may look the same when read (a number with the same last
            // four digits): say so explicitly.
            change
                .hidden_changes
                .push(<T::Secret as ChildSecret>::FIELD);
        }
        changes.push(change);
        Ok((updated, changes))
    })
}

/// Removes the child, after checking the producer's expected version.
pub fn delete<T: ChildTable>(
    conn: &mut PgConnection,
    cx: &WriteContext,
    parent: &ParentTarget,
    id: T::Id,
) -> Result<Versioned<()>, Error> {
    let key = ChildKey {
        account: &parent.account,
        producer: parent.producer,
        id,
    };
    in_producer_lock(conn, cx, parent, |conn| {
        // The producer's lock is held: the row goes, and comes back for its event.
        let last = T::delete(conn, &key)?.ok_or(Error::NotFound(T::NAME))?;
        Ok(((), vec![Change::deleted(T::state(last))]))
    })
}

/// Takes the flag from the siblings that hold it, when `data` holds it: one updated
/// change per sibling.
fn clear_flag<T: ChildTable>(
    conn: &mut PgConnection,
    key: &ChildKey<'_, T::Id>,
    data: &T::Data,
) -> Result<Vec<Change>, Error> {
    if !T::holds_flag(data) {
        return Ok(Vec::new());
    }
    let cleared = T::clear_flag(conn, key, data)?;
    Ok(cleared
        .into_iter()
        .map(|after| {
            let mut before = after.clone();
            before.data = T::with_flag(&after.data);
            Change::updated(T::state(before), T::state(after))
        })
        .collect())
}

/// Runs `write` inside the producer's lock. `write` returns its result and the changes
/// it made (a cleared "preferred" flag on a sibling is a change of that sibling); each
/// change becomes an event and moves the producer's version on by one.
fn in_producer_lock<T>(
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
pub(super) fn producer_version(
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
