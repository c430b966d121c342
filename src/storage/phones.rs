//! The `phones` table. At most one phone per producer is preferred: making one preferred
//! clears the flag on the previous holder in the same transaction.

use chrono::{DateTime, Utc};
use diesel::dsl::now;
use diesel::prelude::*;
use uuid::Uuid;

use super::children::{ChildKey, ChildTable, WriteKind};
use super::codes;
use super::outbox::WriteContext;
use super::schema::phones;
use crate::domain::child::{Child, NoSecret};
use crate::domain::phone::{Extension, Phone, PhoneData, PhoneNumber, Phones};
use crate::domain::{AccountId, Error, PhoneId, ProducerId};

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
#[diesel(table_name = phones, treat_none_as_null = true, treat_none_as_default_value = false)]
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

impl ChildTable for Phones {
    fn select(
        conn: &mut PgConnection,
        key: &ChildKey<'_, PhoneId>,
        lock: bool,
    ) -> Result<Option<Phone>, Error> {
        let query = phones::table
            .find(key.columns())
            .select(PhoneRow::as_select());
        let row = if lock {
            query.for_update().first(conn)
        } else {
            query.first(conn)
        };
        row.optional()?.map(PhoneRow::into_domain).transpose()
    }

    fn select_page(
        conn: &mut PgConnection,
        account: &AccountId,
        producer: ProducerId,
        after: Option<PhoneId>,
        limit: Option<i64>,
    ) -> Result<Vec<Phone>, Error> {
        let mut query = phones::table
            .filter(phones::account_id.eq(account.as_str()))
            .filter(phones::producer_id.eq(producer.as_uuid()))
            .select(PhoneRow::as_select())
            .order(phones::id.asc())
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(phones::id.gt(after.as_uuid()));
        }
        if let Some(limit) = limit {
            query = query.limit(limit);
        }
        let rows = query.load(conn)?;
        rows.into_iter().map(PhoneRow::into_domain).collect()
    }

    fn write(
        conn: &mut PgConnection,
        _cx: &WriteContext,
        key: &ChildKey<'_, PhoneId>,
        write: WriteKind,
        data: &PhoneData,
        _secret: Option<&NoSecret>,
    ) -> Result<Phone, Error> {
        let row = match write {
            WriteKind::Insert => {
                let (account_id, producer_id, id) = key.columns();
                diesel::insert_into(phones::table)
                    .values((
                        phones::account_id.eq(account_id),
                        phones::producer_id.eq(producer_id),
                        phones::id.eq(id),
                        PhoneValues::from(data),
                    ))
                    .returning(PhoneRow::as_returning())
                    .get_result::<PhoneRow>(conn)?
            }
            WriteKind::Update => diesel::update(phones::table.find(key.columns()))
                .set((PhoneValues::from(data), phones::updated_at.eq(now)))
                .returning(PhoneRow::as_returning())
                .get_result::<PhoneRow>(conn)?,
        };
        row.into_domain()
    }

    fn delete(
        conn: &mut PgConnection,
        key: &ChildKey<'_, PhoneId>,
    ) -> Result<Option<Phone>, Error> {
        diesel::delete(phones::table.find(key.columns()))
            .returning(PhoneRow::as_returning())
            .get_result::<PhoneRow>(conn)
            .optional()?
            .map(PhoneRow::into_domain)
            .transpose()
    }

    fn clear_flag(
        conn: &mut PgConnection,
        key: &ChildKey<'_, PhoneId>,
        _data: &PhoneData,
    ) -> Result<Vec<Phone>, Error> {
        let (account_id, producer_id, except) = key.columns();
        diesel::update(
            phones::table
                .filter(phones::account_id.eq(account_id))
                .filter(phones::producer_id.eq(producer_id))
                .filter(phones::preferred)
                .filter(phones::id.ne(except)),
        )
        .set((phones::preferred.eq(false), phones::updated_at.eq(now)))
        .returning(PhoneRow::as_returning())
        .get_results::<PhoneRow>(conn)?
        .into_iter()
        .map(PhoneRow::into_domain)
        .collect()
    }
}
