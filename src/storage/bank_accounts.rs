//! The `bank_accounts` table. The account number is encrypted like the SSN (AES-256-GCM,
//! key id beside the ciphertext, account/owner/field bound as associated data) and never
//! read back: only its last four digits are. At most one account per producer is primary.

use chrono::{DateTime, Utc};
use diesel::dsl::now;
use diesel::prelude::*;
use uuid::Uuid;

use super::children::{ChildKey, ChildTable, WriteKind};
use super::codes;
use super::outbox::WriteContext;
use super::schema::bank_accounts;
use crate::crypto::{FieldContext, Protection};
use crate::domain::bank_account::{
    AccountNumber, BankAccount, BankAccountData, BankAccounts, Last4, RoutingNumber,
};
use crate::domain::child::Child;
use crate::domain::text::Name;
use crate::domain::{AccountId, BankAccountId, Error, ProducerId};

/// Column name bound into the account number's associated data.
const NUMBER_FIELD: &str = "bank_account.number";

#[derive(Queryable, Selectable)]
#[diesel(table_name = bank_accounts, check_for_backend(diesel::pg::Pg))]
struct BankAccountRow {
    producer_id: Uuid,
    id: Uuid,
    bank_name: String,
    holder_name: String,
    routing_number: String,
    number_last4: String,
    account_type: String,
    nickname: Option<String>,
    primary_account: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = bank_accounts, treat_none_as_null = true, treat_none_as_default_value = false)]
struct BankAccountValues<'a> {
    bank_name: &'a str,
    holder_name: &'a str,
    routing_number: &'a str,
    number_last4: &'a str,
    account_type: &'static str,
    nickname: Option<&'a str>,
    primary_account: bool,
}

impl<'a> From<&'a BankAccountData> for BankAccountValues<'a> {
    fn from(data: &'a BankAccountData) -> Self {
        Self {
            bank_name: data.bank_name.as_str(),
            holder_name: data.holder_name.as_str(),
            routing_number: data.routing_number.as_str(),
            number_last4: data.number_last4.as_str(),
            account_type: codes::bank_account_type(data.account_type),
            nickname: data.nickname.as_ref().map(Name::as_str),
            primary_account: data.primary_account,
        }
    }
}

/// The encrypted number columns.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = bank_accounts)]
struct SealedNumber {
    number_ciphertext: Vec<u8>,
    number_key_id: String,
}

impl SealedNumber {
    fn new(
        protection: &Protection,
        key: &ChildKey<'_, BankAccountId>,
        number: &AccountNumber,
    ) -> Self {
        let owner = key.id.to_string();
        let context = FieldContext {
            account_id: key.account.as_str(),
            owner_id: &owner,
            field: NUMBER_FIELD,
        };
        let sealed = protection.cipher.seal(number.padded().as_bytes(), &context);
        Self {
            number_ciphertext: sealed.bytes,
            number_key_id: sealed.key_id,
        }
    }
}

impl BankAccountRow {
    fn into_domain(self) -> Result<BankAccount, Error> {
        let id = self.id;
        let corrupt =
            |what: &str| Error::Internal(format!("bank account {id} has an invalid stored {what}"));
        Ok(Child {
            id: BankAccountId::from_uuid(self.id),
            producer_id: ProducerId::from_uuid(self.producer_id),
            data: BankAccountData {
                bank_name: Name::parse(&self.bank_name).map_err(|_| corrupt("bank_name"))?,
                holder_name: Name::parse(&self.holder_name).map_err(|_| corrupt("holder_name"))?,
                routing_number: RoutingNumber::parse(&self.routing_number)
                    .map_err(|_| corrupt("routing_number"))?,
                number_last4: Last4::parse(&self.number_last4)
                    .map_err(|_| corrupt("number_last4"))?,
                account_type: codes::parse_bank_account_type(&self.account_type)
                    .ok_or_else(|| corrupt("account_type"))?,
                nickname: self
                    .nickname
                    .as_deref()
                    .map(Name::parse)
                    .transpose()
                    .map_err(|_| corrupt("nickname"))?,
                primary_account: self.primary_account,
            },
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// A new account comes with its number: the API requires it on create.
fn no_number() -> Error {
    Error::Internal("a new bank account without a number".into())
}

/// The number is encrypted before it is written.
impl ChildTable for BankAccounts {
    fn select(
        conn: &mut PgConnection,
        key: &ChildKey<'_, BankAccountId>,
        lock: bool,
    ) -> Result<Option<BankAccount>, Error> {
        let query = bank_accounts::table
            .find(key.columns())
            .select(BankAccountRow::as_select());
        let row = if lock {
            query.for_update().first(conn)
        } else {
            query.first(conn)
        };
        row.optional()?.map(BankAccountRow::into_domain).transpose()
    }

    fn select_page(
        conn: &mut PgConnection,
        account: &AccountId,
        producer: ProducerId,
        after: Option<BankAccountId>,
        limit: Option<i64>,
    ) -> Result<Vec<BankAccount>, Error> {
        let mut query = bank_accounts::table
            .filter(bank_accounts::account_id.eq(account.as_str()))
            .filter(bank_accounts::producer_id.eq(producer.as_uuid()))
            .select(BankAccountRow::as_select())
            .order(bank_accounts::id.asc())
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(bank_accounts::id.gt(after.as_uuid()));
        }
        if let Some(limit) = limit {
            query = query.limit(limit);
        }
        let rows = query.load(conn)?;
        rows.into_iter().map(BankAccountRow::into_domain).collect()
    }

    fn write(
        conn: &mut PgConnection,
        cx: &WriteContext,
        key: &ChildKey<'_, BankAccountId>,
        write: WriteKind,
        data: &BankAccountData,
        number: Option<&AccountNumber>,
    ) -> Result<BankAccount, Error> {
        // A new account needs its number; an update without one keeps the stored one.
        let sealed = number.map(|number| SealedNumber::new(&cx.protection, key, number));
        let row = match write {
            WriteKind::Insert => {
                let (account_id, producer_id, id) = key.columns();
                diesel::insert_into(bank_accounts::table)
                    .values((
                        bank_accounts::account_id.eq(account_id),
                        bank_accounts::producer_id.eq(producer_id),
                        bank_accounts::id.eq(id),
                        BankAccountValues::from(data),
                        sealed.ok_or_else(no_number)?,
                    ))
                    .returning(BankAccountRow::as_returning())
                    .get_result::<BankAccountRow>(conn)?
            }
            WriteKind::Update => diesel::update(bank_accounts::table.find(key.columns()))
                .set((
                    BankAccountValues::from(data),
                    sealed,
                    bank_accounts::updated_at.eq(now),
                ))
                .returning(BankAccountRow::as_returning())
                .get_result::<BankAccountRow>(conn)?,
        };
        row.into_domain()
    }

    fn delete(
        conn: &mut PgConnection,
        key: &ChildKey<'_, BankAccountId>,
    ) -> Result<Option<BankAccount>, Error> {
        diesel::delete(bank_accounts::table.find(key.columns()))
            .returning(BankAccountRow::as_returning())
            .get_result::<BankAccountRow>(conn)
            .optional()?
            .map(BankAccountRow::into_domain)
            .transpose()
    }

    fn clear_flag(
        conn: &mut PgConnection,
        key: &ChildKey<'_, BankAccountId>,
        _data: &BankAccountData,
    ) -> Result<Vec<BankAccount>, Error> {
        let (account_id, producer_id, except) = key.columns();
        diesel::update(
            bank_accounts::table
                .filter(bank_accounts::account_id.eq(account_id))
                .filter(bank_accounts::producer_id.eq(producer_id))
                .filter(bank_accounts::primary_account)
                .filter(bank_accounts::id.ne(except)),
        )
        .set((
            bank_accounts::primary_account.eq(false),
            bank_accounts::updated_at.eq(now),
        ))
        .returning(BankAccountRow::as_returning())
        .get_results::<BankAccountRow>(conn)?
        .into_iter()
        .map(BankAccountRow::into_domain)
        .collect()
    }
}
