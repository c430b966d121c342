//! The `bank_accounts` table. The account number is encrypted like the SSN (AES-256-GCM,
//! key id beside the ciphertext, account/owner/field bound as associated data) and never
//! read back: only its last four digits are. At most one account per producer is primary.

use chrono::{DateTime, Utc};
use diesel::dsl::now;
use diesel::prelude::*;
use uuid::Uuid;

use super::children::in_producer_lock;
use super::codes;
use super::outbox::WriteContext;
use super::schema::bank_accounts;
use crate::crypto::{FieldContext, Protection};
pub use crate::domain::bank_account::BankAccount;
use crate::domain::bank_account::{AccountNumber, BankAccountData, Last4, RoutingNumber};
use crate::domain::child::{Child, ParentTarget, Versioned};
use crate::domain::event::{Change, ResourceState};
use crate::domain::producer::{Page, PageRequest};
use crate::domain::text::Name;
use crate::domain::{AccountId, BankAccountId, Error, ProducerId};

child_queries!(table: bank_accounts, row: BankAccountRow, id: BankAccountId, item: BankAccount, name: "bank account", state: ResourceState::BankAccount);

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
#[diesel(table_name = bank_accounts, treat_none_as_null = true)]
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
        account: &AccountId,
        id: BankAccountId,
        number: &AccountNumber,
    ) -> Self {
        let owner = id.to_string();
        let context = FieldContext {
            account_id: account.as_str(),
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

/// Clears the primary flag of the producer's other accounts; returns how many changed.
fn clear_primary(
    conn: &mut PgConnection,
    account: &AccountId,
    producer: ProducerId,
    except: BankAccountId,
) -> Result<Vec<Change>, Error> {
    let cleared = diesel::update(
        bank_accounts::table
            .filter(bank_accounts::account_id.eq(account.as_str()))
            .filter(bank_accounts::producer_id.eq(producer.as_uuid()))
            .filter(bank_accounts::primary_account)
            .filter(bank_accounts::id.ne(except.as_uuid())),
    )
    .set((
        bank_accounts::primary_account.eq(false),
        bank_accounts::updated_at.eq(now),
    ))
    .returning(BankAccountRow::as_returning())
    .get_results::<BankAccountRow>(conn)?;
    cleared
        .into_iter()
        .map(|row| {
            let after = row.into_domain()?;
            let mut before = after.clone();
            before.data.primary_account = true;
            Ok(Change::updated(
                ResourceState::BankAccount(before),
                ResourceState::BankAccount(after),
            ))
        })
        .collect()
}

/// Adds a bank account to the producer; `number` is encrypted before it is written.
pub fn create(
    conn: &mut PgConnection,
    cx: &WriteContext,
    parent: &ParentTarget,
    data: &BankAccountData,
    number: &AccountNumber,
) -> Result<Versioned<BankAccount>, Error> {
    let (account, producer) = (&parent.account, parent.producer);
    let id = BankAccountId::generate();
    in_producer_lock(conn, cx, parent, |conn| {
        let cleared = if data.primary_account {
            clear_primary(conn, account, producer, id)?
        } else {
            Vec::new()
        };
        let row = diesel::insert_into(bank_accounts::table)
            .values((
                bank_accounts::account_id.eq(account.as_str()),
                bank_accounts::producer_id.eq(producer.as_uuid()),
                bank_accounts::id.eq(id.as_uuid()),
                BankAccountValues::from(data),
                SealedNumber::new(&cx.protection, account, id, number),
            ))
            .returning(BankAccountRow::as_returning())
            .get_result(conn)?;
        let created = row.into_domain()?;
        // The flag leaves its previous holder first: applied in order, the events
        // never show two holders at once.
        let mut changes = cleared;
        changes.push(Change::created(ResourceState::BankAccount(created.clone())));
        Ok((created, changes))
    })
}

/// Replaces the account's data with what `change` derives from it; a new number comes
/// with it (`Some`) or the stored one stays (`None`). Unchanged data writes nothing.
pub fn update(
    conn: &mut PgConnection,
    cx: &WriteContext,
    parent: &ParentTarget,
    id: BankAccountId,
    change: impl FnOnce(&BankAccount) -> Result<(BankAccountData, Option<AccountNumber>), Error>,
) -> Result<Versioned<BankAccount>, Error> {
    let (account, producer) = (&parent.account, parent.producer);
    in_producer_lock(conn, cx, parent, |conn| {
        let current = load(conn, account, producer, id, true)?;
        let (data, number) = change(&current)?;
        if data == current.data && number.is_none() {
            return Ok((current, Vec::new()));
        }
        let cleared = if data.primary_account {
            clear_primary(conn, account, producer, id)?
        } else {
            Vec::new()
        };
        let number_changed = number.is_some();
        let sealed = number.map(|number| SealedNumber::new(&cx.protection, account, id, &number));
        let row = diesel::update(bank_accounts::table.find((
            account.as_str(),
            producer.as_uuid(),
            id.as_uuid(),
        )))
        .set((
            BankAccountValues::from(&data),
            sealed,
            bank_accounts::updated_at.eq(now),
        ))
        .returning(BankAccountRow::as_returning())
        .get_result(conn)?;
        let updated = row.into_domain()?;
        let mut change = Change::updated(
            ResourceState::BankAccount(current),
            ResourceState::BankAccount(updated.clone()),
        );
        if number_changed {
            // A new number may end in the same four digits: say so explicitly.
            change.hidden_changes.push("number");
        }
        let mut changes = cleared;
        changes.push(change);
        Ok((updated, changes))
    })
}
