//! The `addresses` table. At most one address of each type is preferred: making one
//! preferred clears the flag on the previous holder in the same transaction.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::dsl::now;
use diesel::prelude::*;
use uuid::Uuid;

use super::children::in_producer_lock;
use super::codes;
use super::outbox::WriteContext;
use super::schema::addresses;
pub use crate::domain::address::Address;
use crate::domain::address::{AddressData, AddressType, Location};
use crate::domain::child::{Child, ParentTarget, Versioned};
use crate::domain::event::{Change, ResourceState};
use crate::domain::producer::{Page, PageRequest};
use crate::domain::text::Name;
use crate::domain::{AccountId, AddressId, Error, InvalidValue, ProducerId};

child_queries!(table: addresses, row: AddressRow, id: AddressId, item: Address, name: "address", state: ResourceState::Address);

#[derive(Queryable, Selectable)]
#[diesel(table_name = addresses, check_for_backend(diesel::pg::Pg))]
struct AddressRow {
    producer_id: Uuid,
    id: Uuid,
    address_type: String,
    preferred: bool,
    address_line1: String,
    address_line2: Option<String>,
    city: String,
    state: Option<String>,
    zip: Option<String>,
    country: String,
    county: Option<String>,
    move_in_date: Option<NaiveDate>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = addresses, treat_none_as_null = true)]
struct AddressValues<'a> {
    address_type: &'static str,
    preferred: bool,
    address_line1: &'a str,
    address_line2: Option<&'a str>,
    city: &'a str,
    state: Option<&'a str>,
    zip: Option<&'a str>,
    country: &'a str,
    county: Option<&'a str>,
    move_in_date: Option<NaiveDate>,
}

impl<'a> From<&'a AddressData> for AddressValues<'a> {
    fn from(data: &'a AddressData) -> Self {
        Self {
            address_type: codes::address_type(data.address_type),
            preferred: data.preferred,
            address_line1: data.line1.as_str(),
            address_line2: data.line2.as_ref().map(Name::as_str),
            city: data.city.as_str(),
            state: data.location.state(),
            zip: data.location.zip(),
            country: data.location.country().as_str(),
            county: data.county.as_ref().map(Name::as_str),
            move_in_date: data.move_in_date,
        }
    }
}

impl AddressRow {
    /// Back through the input parsers: a row that breaks a rule is reported, not served.
    fn into_domain(self) -> Result<Address, Error> {
        let id = self.id;
        let corrupt =
            |what: &str| Error::Internal(format!("address {id} has an invalid stored {what}"));
        let name =
            |what: &str, raw: &str| Name::parse(raw).map_err(|_: InvalidValue| corrupt(what));
        let optional = |what: &str, raw: &Option<String>| {
            raw.as_deref().map(|raw| name(what, raw)).transpose()
        };
        let location = Location::parse(
            &self.country,
            self.state.as_deref().unwrap_or_default(),
            self.zip.as_deref().unwrap_or_default(),
        )
        .map_err(|_| corrupt("location"))?;
        Ok(Child {
            id: AddressId::from_uuid(self.id),
            producer_id: ProducerId::from_uuid(self.producer_id),
            data: AddressData {
                address_type: codes::parse_address_type(&self.address_type)
                    .ok_or_else(|| corrupt("address_type"))?,
                preferred: self.preferred,
                line1: name("address_line1", &self.address_line1)?,
                line2: optional("address_line2", &self.address_line2)?,
                city: name("city", &self.city)?,
                location,
                county: optional("county", &self.county)?,
                move_in_date: self.move_in_date,
            },
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// Clears the preferred flag of the producer's other addresses of `address_type`;
/// returns how many changed.
fn clear_preferred(
    conn: &mut PgConnection,
    account: &AccountId,
    producer: ProducerId,
    address_type: AddressType,
    except: AddressId,
) -> Result<Vec<Change>, Error> {
    let cleared = diesel::update(
        addresses::table
            .filter(addresses::account_id.eq(account.as_str()))
            .filter(addresses::producer_id.eq(producer.as_uuid()))
            .filter(addresses::address_type.eq(codes::address_type(address_type)))
            .filter(addresses::preferred)
            .filter(addresses::id.ne(except.as_uuid())),
    )
    .set((
        addresses::preferred.eq(false),
        addresses::updated_at.eq(now),
    ))
    .returning(AddressRow::as_returning())
    .get_results::<AddressRow>(conn)?;
    cleared
        .into_iter()
        .map(|row| {
            let after = row.into_domain()?;
            let mut before = after.clone();
            before.data.preferred = true;
            Ok(Change::updated(
                ResourceState::Address(before),
                ResourceState::Address(after),
            ))
        })
        .collect()
}

/// Adds an address to the producer.
pub fn create(
    conn: &mut PgConnection,
    cx: &WriteContext,
    parent: &ParentTarget,
    data: &AddressData,
) -> Result<Versioned<Address>, Error> {
    let (account, producer) = (&parent.account, parent.producer);
    let id = AddressId::generate();
    in_producer_lock(conn, cx, parent, |conn| {
        let cleared = if data.preferred {
            clear_preferred(conn, account, producer, data.address_type, id)?
        } else {
            Vec::new()
        };
        let row = diesel::insert_into(addresses::table)
            .values((
                addresses::account_id.eq(account.as_str()),
                addresses::producer_id.eq(producer.as_uuid()),
                addresses::id.eq(id.as_uuid()),
                AddressValues::from(data),
            ))
            .returning(AddressRow::as_returning())
            .get_result(conn)?;
        let created = row.into_domain()?;
        // The flag leaves its previous holder first: applied in order, the events
        // never show two holders at once.
        let mut changes = cleared;
        changes.push(Change::created(ResourceState::Address(created.clone())));
        Ok((created, changes))
    })
}

/// Replaces the address's data with what `change` derives from it. Unchanged data
/// writes nothing and keeps the producer's version.
pub fn update(
    conn: &mut PgConnection,
    cx: &WriteContext,
    parent: &ParentTarget,
    id: AddressId,
    change: impl FnOnce(&Address) -> Result<AddressData, Error>,
) -> Result<Versioned<Address>, Error> {
    let (account, producer) = (&parent.account, parent.producer);
    in_producer_lock(conn, cx, parent, |conn| {
        let current = load(conn, account, producer, id, true)?;
        let data = change(&current)?;
        if data == current.data {
            return Ok((current, Vec::new()));
        }
        let cleared = if data.preferred {
            clear_preferred(conn, account, producer, data.address_type, id)?
        } else {
            Vec::new()
        };
        let row = diesel::update(addresses::table.find((
            account.as_str(),
            producer.as_uuid(),
            id.as_uuid(),
        )))
        .set((AddressValues::from(&data), addresses::updated_at.eq(now)))
        .returning(AddressRow::as_returning())
        .get_result(conn)?;
        let updated = row.into_domain()?;
        let mut changes = cleared;
        changes.push(Change::updated(
            ResourceState::Address(current),
            ResourceState::Address(updated.clone()),
        ));
        Ok((updated, changes))
    })
}
