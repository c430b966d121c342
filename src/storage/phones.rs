//! The `phones` table. At most one phone per producer is preferred: making one preferred
//! clears the flag on the previous holder in the same transaction.

use chrono::{DateTime, Utc};
use diesel::dsl::now;
use diesel::prelude::*;
use uuid::Uuid;

use super::children::in_producer_lock;
use super::codes;
use super::outbox::WriteContext;
use super::schema::phones;
use crate::domain::child::{Child, ParentTarget, Versioned};
use crate::domain::event::{Change, ResourceState};
pub use crate::domain::phone::Phone;
use crate::domain::phone::{Extension, PhoneData, PhoneNumber};
use crate::domain::producer::{Page, PageRequest};
use crate::domain::{AccountId, Error, PhoneId, ProducerId};

child_queries!(table: phones, row: PhoneRow, id: PhoneId, item: Phone, name: "phone", state: ResourceState::Phone);

#[derive(Queryable, Selectable)]
#[diesel(table_name = phones, check_for_backend(diesel::pg::Pg))]
struct PhoneRow {
    producer_id: Uuid,
    id: Uuid,
    phone_type: String,
    number: String,
    extension: Option<String>,
    preferred: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = phones, treat_none_as_null = true)]
struct PhoneValues<'a> {
    phone_type: &'static str,
    number: &'a str,
    extension: Option<&'a str>,
    preferred: bool,
}

impl<'a> From<&'a PhoneData> for PhoneValues<'a> {
    fn from(data: &'a PhoneData) -> Self {
        Self {
            phone_type: codes::phone_type(data.phone_type),
            number: data.number.as_str(),
            extension: data.extension.as_ref().map(Extension::as_str),
            preferred: data.preferred,
        }
    }
}

impl PhoneRow {
    fn into_domain(self) -> Result<Phone, Error> {
        let id = self.id;
        let corrupt =
            |what: &str| Error::Internal(format!("phone {id} has an invalid stored {what}"));
        Ok(Child {
            id: PhoneId::from_uuid(self.id),
            producer_id: ProducerId::from_uuid(self.producer_id),
            data: PhoneData {
                number: PhoneNumber::parse(&self.number).map_err(|_| corrupt("number"))?,
                phone_type: codes::parse_phone_type(&self.phone_type)
                    .ok_or_else(|| corrupt("phone_type"))?,
                extension: Extension::parse_optional(self.extension.as_deref().unwrap_or_default())
                    .map_err(|_| corrupt("extension"))?,
                preferred: self.preferred,
            },
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// Clears the preferred flag of the producer's other phones; returns how many changed.
fn clear_preferred(
    conn: &mut PgConnection,
    account: &AccountId,
    producer: ProducerId,
    except: PhoneId,
) -> Result<Vec<Change>, Error> {
    let cleared = diesel::update(
        phones::table
            .filter(phones::account_id.eq(account.as_str()))
            .filter(phones::producer_id.eq(producer.as_uuid()))
            .filter(phones::preferred)
            .filter(phones::id.ne(except.as_uuid())),
    )
    .set((phones::preferred.eq(false), phones::updated_at.eq(now)))
    .returning(PhoneRow::as_returning())
    .get_results::<PhoneRow>(conn)?;
    cleared
        .into_iter()
        .map(|row| {
            let after = row.into_domain()?;
            let mut before = after.clone();
            before.data.preferred = true;
            Ok(Change::updated(
                ResourceState::Phone(before),
                ResourceState::Phone(after),
            ))
        })
        .collect()
}

/// Adds a phone to the producer.
pub fn create(
    conn: &mut PgConnection,
    cx: &WriteContext,
    parent: &ParentTarget,
    data: &PhoneData,
) -> Result<Versioned<Phone>, Error> {
    let (account, producer) = (&parent.account, parent.producer);
    let id = PhoneId::generate();
    in_producer_lock(conn, cx, parent, |conn| {
        let cleared = if data.preferred {
            clear_preferred(conn, account, producer, id)?
        } else {
            Vec::new()
        };
        let row = diesel::insert_into(phones::table)
            .values((
                phones::account_id.eq(account.as_str()),
                phones::producer_id.eq(producer.as_uuid()),
                phones::id.eq(id.as_uuid()),
                PhoneValues::from(data),
            ))
            .returning(PhoneRow::as_returning())
            .get_result(conn)?;
        let created = row.into_domain()?;
        // The flag leaves its previous holder first: applied in order, the events
        // never show two holders at once.
        let mut changes = cleared;
        changes.push(Change::created(ResourceState::Phone(created.clone())));
        Ok((created, changes))
    })
}

/// Replaces the phone's data with what `change` derives from it. Unchanged data writes
/// nothing and keeps the producer's version.
pub fn update(
    conn: &mut PgConnection,
    cx: &WriteContext,
    parent: &ParentTarget,
    id: PhoneId,
    change: impl FnOnce(&Phone) -> Result<PhoneData, Error>,
) -> Result<Versioned<Phone>, Error> {
    let (account, producer) = (&parent.account, parent.producer);
    in_producer_lock(conn, cx, parent, |conn| {
        let current = load(conn, account, producer, id, true)?;
        let data = change(&current)?;
        if data == current.data {
            return Ok((current, Vec::new()));
        }
        let cleared = if data.preferred {
            clear_preferred(conn, account, producer, id)?
        } else {
            Vec::new()
        };
        let row = diesel::update(phones::table.find((
            account.as_str(),
            producer.as_uuid(),
            id.as_uuid(),
        )))
        .set((PhoneValues::from(&data), phones::updated_at.eq(now)))
        .returning(PhoneRow::as_returning())
        .get_result(conn)?;
        let updated = row.into_domain()?;
        let mut changes = cleared;
        changes.push(Change::updated(
            ResourceState::Phone(current),
            ResourceState::Phone(updated.clone()),
        ));
        Ok((updated, changes))
    })
}
