//! The `addresses` table. At most one address of each type is preferred: making one
//! preferred clears the flag on the previous holder in the same transaction.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::dsl::now;
use diesel::prelude::*;
use uuid::Uuid;

use super::children::{ChildKey, ChildTable, WriteKind};
use super::codes;
use super::outbox::WriteContext;
use super::schema::addresses;
use crate::domain::address::{Address, AddressData, Addresses, Location};
use crate::domain::child::{Child, NoSecret};
use crate::domain::text::Name;
use crate::domain::{AccountId, AddressId, Error, InvalidValue, ProducerId};

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
#[diesel(table_name = addresses, treat_none_as_null = true, treat_none_as_default_value = false)]
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

impl ChildTable for Addresses {
    fn select(
        conn: &mut PgConnection,
        key: &ChildKey<'_, AddressId>,
        lock: bool,
    ) -> Result<Option<Address>, Error> {
        let query = addresses::table
            .find(key.columns())
            .select(AddressRow::as_select());
        let row = if lock {
            query.for_update().first(conn)
        } else {
            query.first(conn)
        };
        row.optional()?.map(AddressRow::into_domain).transpose()
    }

    fn select_page(
        conn: &mut PgConnection,
        account: &AccountId,
        producer: ProducerId,
        after: Option<AddressId>,
        limit: Option<i64>,
    ) -> Result<Vec<Address>, Error> {
        let mut query = addresses::table
            .filter(addresses::account_id.eq(account.as_str()))
            .filter(addresses::producer_id.eq(producer.as_uuid()))
            .select(AddressRow::as_select())
            .order(addresses::id.asc())
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(addresses::id.gt(after.as_uuid()));
        }
        if let Some(limit) = limit {
            query = query.limit(limit);
        }
        let rows = query.load(conn)?;
        rows.into_iter().map(AddressRow::into_domain).collect()
    }

    fn write(
        conn: &mut PgConnection,
        _cx: &WriteContext,
        key: &ChildKey<'_, AddressId>,
        write: WriteKind,
        data: &AddressData,
        _secret: Option<&NoSecret>,
    ) -> Result<Address, Error> {
        let row = match write {
            WriteKind::Insert => {
                let (account_id, producer_id, id) = key.columns();
                diesel::insert_into(addresses::table)
                    .values((
                        addresses::account_id.eq(account_id),
                        addresses::producer_id.eq(producer_id),
                        addresses::id.eq(id),
                        AddressValues::from(data),
                    ))
                    .returning(AddressRow::as_returning())
                    .get_result::<AddressRow>(conn)?
            }
            WriteKind::Update => diesel::update(addresses::table.find(key.columns()))
                .set((AddressValues::from(data), addresses::updated_at.eq(now)))
                .returning(AddressRow::as_returning())
                .get_result::<AddressRow>(conn)?,
        };
        row.into_domain()
    }

    fn delete(
        conn: &mut PgConnection,
        key: &ChildKey<'_, AddressId>,
    ) -> Result<Option<Address>, Error> {
        diesel::delete(addresses::table.find(key.columns()))
            .returning(AddressRow::as_returning())
            .get_result::<AddressRow>(conn)
            .optional()?
            .map(AddressRow::into_domain)
            .transpose()
    }

    /// The flag is per address type: the preferred mailing address, the preferred
    /// business address, …
    fn clear_flag(
        conn: &mut PgConnection,
        key: &ChildKey<'_, AddressId>,
        data: &AddressData,
    ) -> Result<Vec<Address>, Error> {
        let (account_id, producer_id, except) = key.columns();
        diesel::update(
            addresses::table
                .filter(addresses::account_id.eq(account_id))
                .filter(addresses::producer_id.eq(producer_id))
                .filter(addresses::address_type.eq(codes::address_type(data.address_type)))
                .filter(addresses::preferred)
                .filter(addresses::id.ne(except)),
        )
        .set((
            addresses::preferred.eq(false),
            addresses::updated_at.eq(now),
        ))
        .returning(AddressRow::as_returning())
        .get_results::<AddressRow>(conn)?
        .into_iter()
        .map(AddressRow::into_domain)
        .collect()
    }
}
