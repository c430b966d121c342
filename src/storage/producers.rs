//! The `producers` table: rows, their mapping to the domain type (encrypting and
//! decrypting the SSN on the way), and the producer's transactional operations.
//!
//! Every query names the account. A mutation is one transaction: the row, the version
//! bump and the events commit together or not at all.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::dsl::{exists, now};
use diesel::prelude::*;
use uuid::Uuid;

use super::children::{deletions, list_all};
use super::codes;
use super::outbox::{self, History, WriteContext};
use super::schema::{self, producers};
use crate::crypto::{FieldContext, Protection, SSN_INDEX_LABEL, SealedValue};
use crate::domain::address::Addresses;
use crate::domain::address::CountryCode;
use crate::domain::bank_account::BankAccounts;
use crate::domain::dates::DateOfBirth;
use crate::domain::event::{Change, ResourceState};
use crate::domain::identifiers::{CrdNumber, Fein, Npn, Ssn, SsnInfo, SsnLast4};
use crate::domain::insurance_policy::InsurancePolicies;
use crate::domain::page::{Page, PageRequest};
use crate::domain::phone::Phones;
use crate::domain::producer::{
    Firm, FullProducer, Individual, Producer, ProducerData, ProducerDetails, ProducerFilter,
    ProducerType, SsnBlindIndex, SsnView,
};
use crate::domain::text::{Email, Name};
use crate::domain::{AccountId, Error, InvalidValue, ProducerId, Version};

/// Column name bound into the SSN ciphertext's associated data.
const SSN_FIELD: &str = "producer.ssn";

/// A producer row as read. The blind index is never read back: it only serves searches.
#[derive(Queryable, Selectable)]
#[diesel(table_name = producers, check_for_backend(diesel::pg::Pg))]
struct ProducerRow {
    account_id: String,
    id: Uuid,
    npn: String,
    producer_type: String,
    first_name: Option<String>,
    last_name: Option<String>,
    middle_name: Option<String>,
    suffix: Option<String>,
    gender: Option<String>,
    date_of_birth: Option<NaiveDate>,
    ssn_ciphertext: Option<Vec<u8>>,
    ssn_key_id: Option<String>,
    ssn_last4: Option<String>,
    primary_email: Option<String>,
    secondary_email: Option<String>,
    title: Option<String>,
    firm_name: Option<String>,
    business_type: Option<String>,
    firm_email: Option<String>,
    fein: Option<String>,
    finra_crd_number: Option<String>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// The client-supplied columns, as written. `None` writes NULL, so an update clears
/// what the new data no longer has.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = producers, treat_none_as_null = true, treat_none_as_default_value = false)]
struct ProducerValues {
    npn: String,
    producer_type: &'static str,
    first_name: Option<String>,
    last_name: Option<String>,
    middle_name: Option<String>,
    suffix: Option<String>,
    gender: Option<&'static str>,
    date_of_birth: Option<NaiveDate>,
    ssn_ciphertext: Option<Vec<u8>>,
    ssn_key_id: Option<String>,
    ssn_blind_index: Option<Vec<u8>>,
    ssn_last4: Option<String>,
    primary_email: Option<String>,
    secondary_email: Option<String>,
    title: Option<String>,
    firm_name: Option<String>,
    business_type: Option<&'static str>,
    firm_email: Option<String>,
    fein: Option<String>,
    finra_crd_number: Option<String>,
}

/// The blind index of an SSN in an account: what the `ssn_blind_index` column holds.
pub fn ssn_blind_index(protection: &Protection, account: &AccountId, ssn: &Ssn) -> SsnBlindIndex {
    SsnBlindIndex(protection.hasher.hash(
        SSN_INDEX_LABEL,
        account.as_str(),
        ssn.expose_digits().as_bytes(),
    ))
}

fn ssn_context<'a>(account: &'a str, owner: &'a str) -> FieldContext<'a> {
    FieldContext {
        account_id: account,
        owner_id: owner,
        field: SSN_FIELD,
    }
}

fn text<T>(value: &Option<T>, as_str: fn(&T) -> &str) -> Option<String> {
    value.as_ref().map(|v| as_str(v).to_owned())
}

impl ProducerValues {
    fn new(
        data: &ProducerData,
        protection: &Protection,
        account: &AccountId,
        id: ProducerId,
    ) -> Self {
        let mut values = ProducerValues {
            npn: data.npn.as_str().to_owned(),
            producer_type: codes::producer_type(data.details.producer_type()),
            first_name: None,
            last_name: None,
            middle_name: None,
            suffix: None,
            gender: None,
            date_of_birth: None,
            ssn_ciphertext: None,
            ssn_key_id: None,
            ssn_blind_index: None,
            ssn_last4: None,
            primary_email: None,
            secondary_email: None,
            title: None,
            firm_name: None,
            business_type: None,
            firm_email: None,
            fein: None,
            finra_crd_number: None,
        };
        match &data.details {
            ProducerDetails::Individual(person) => {
                values.first_name = Some(person.first_name.as_str().to_owned());
                values.last_name = Some(person.last_name.as_str().to_owned());
                values.middle_name = text(&person.middle_name, Name::as_str);
                values.suffix = text(&person.suffix, Name::as_str);
                values.gender = person.gender.map(codes::gender);
                values.date_of_birth = person.date_of_birth.map(|d| d.date());
                values.ssn_last4 = person.ssn.last4().map(|l| l.as_str().to_owned());
                if let Some(ssn) = person.ssn.full() {
                    let owner = id.to_string();
                    let sealed = protection.cipher.seal(
                        ssn.expose_digits().as_bytes(),
                        &ssn_context(account.as_str(), &owner),
                    );
                    values.ssn_key_id = Some(sealed.key_id);
                    values.ssn_ciphertext = Some(sealed.bytes);
                    values.ssn_blind_index =
                        Some(ssn_blind_index(protection, account, ssn).0.to_vec());
                }
                values.primary_email = text(&person.primary_email, Email::as_str);
                values.secondary_email = text(&person.secondary_email, Email::as_str);
                values.title = text(&person.title, Name::as_str);
                values.finra_crd_number = text(&person.finra_crd_number, CrdNumber::as_str);
            }
            ProducerDetails::Firm(firm) => {
                values.firm_name = Some(firm.name.as_str().to_owned());
                values.business_type = firm.business_type.map(codes::business_type);
                values.firm_email = text(&firm.email, Email::as_str);
                values.fein = text(&firm.fein, Fein::as_str);
                values.finra_crd_number = text(&firm.finra_crd_number, CrdNumber::as_str);
            }
        }
        values
    }
}

impl ProducerRow {
    /// Rebuilds the domain producer through the same parsers as input, so a row that
    /// breaks a rule (hand-edited, or from a bug) is reported instead of served.
    fn into_domain(self, protection: &Protection, view: SsnView) -> Result<Producer, Error> {
        let id = ProducerId::from_uuid(self.id);
        let corrupt = |what: &str| corrupt(id, what);
        let account = AccountId::parse(&self.account_id).map_err(|_| corrupt("account_id"))?;
        let npn = stored(id, "npn", Npn::parse(&self.npn))?;
        let name = |what: &str, value: &Option<String>| {
            value
                .as_deref()
                .map(Name::parse)
                .transpose()
                .map_err(|_| corrupt(what))
        };
        let email = |what: &str, value: &Option<String>| {
            value
                .as_deref()
                .map(|v| Email::parse_optional(v).and_then(|e| e.ok_or(InvalidValue::new("empty"))))
                .transpose()
                .map_err(|_| corrupt(what))
        };
        let crd = self
            .finra_crd_number
            .as_deref()
            .map(CrdNumber::parse)
            .transpose();
        let crd = stored(id, "finra_crd_number", crd)?;
        let details = match codes::parse_producer_type(&self.producer_type) {
            Some(ProducerType::Individual) => {
                let last4 = self.ssn_last4.as_deref().map(SsnLast4::parse).transpose();
                let last4 = stored(id, "ssn_last4", last4)?;
                // Decrypt only for a reader who may see the SSN: a key problem then fails
                // only the reads that need the key.
                let ssn = if view == SsnView::LastFourOnly && self.ssn_ciphertext.is_some() {
                    SsnInfo::Sealed(last4.ok_or_else(|| corrupt("ssn_last4"))?)
                } else {
                    let ssn = self.open_ssn(protection, &account)?;
                    stored(id, "ssn", SsnInfo::from_parts(ssn, last4))?
                };
                ProducerDetails::Individual(Individual {
                    first_name: name("first_name", &self.first_name)?
                        .ok_or_else(|| corrupt("first_name"))?,
                    last_name: name("last_name", &self.last_name)?
                        .ok_or_else(|| corrupt("last_name"))?,
                    middle_name: name("middle_name", &self.middle_name)?,
                    suffix: name("suffix", &self.suffix)?,
                    gender: self
                        .gender
                        .as_deref()
                        .map(|code| codes::parse_gender(code).ok_or_else(|| corrupt("gender")))
                        .transpose()?,
                    date_of_birth: self.date_of_birth.map(DateOfBirth::from_stored),
                    ssn,
                    finra_crd_number: crd,
                    primary_email: email("primary_email", &self.primary_email)?,
                    secondary_email: email("secondary_email", &self.secondary_email)?,
                    title: name("title", &self.title)?,
                })
            }
            Some(ProducerType::Firm) => ProducerDetails::Firm(Firm {
                name: name("firm_name", &self.firm_name)?.ok_or_else(|| corrupt("firm_name"))?,
                business_type: self
                    .business_type
                    .as_deref()
                    .map(|code| {
                        codes::parse_business_type(code).ok_or_else(|| corrupt("business_type"))
                    })
                    .transpose()?,
                email: email("firm_email", &self.firm_email)?,
                fein: stored(
                    id,
                    "fein",
                    self.fein.as_deref().map(Fein::parse).transpose(),
                )?,
                finra_crd_number: crd,
            }),
            None => return Err(corrupt("producer_type")),
        };
        Ok(Producer {
            id,
            account_id: account,
            data: ProducerData { npn, details },
            version: Version::new(self.version),
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }

    fn open_ssn(&self, protection: &Protection, account: &AccountId) -> Result<Option<Ssn>, Error> {
        let (Some(bytes), Some(key_id)) = (&self.ssn_ciphertext, &self.ssn_key_id) else {
            return Ok(None);
        };
        let sealed = SealedValue {
            key_id: key_id.clone(),
            bytes: bytes.clone(),
        };
        let owner = self.id.to_string();
        let plaintext = protection
            .cipher
            .open(&sealed, &ssn_context(account.as_str(), &owner))
            .map_err(|e| {
                Error::Internal(format!("producer {owner}: cannot decrypt the SSN: {e}"))
            })?;
        let digits = String::from_utf8(plaintext)
            .map_err(|_| Error::Internal(format!("producer {owner}: decrypted SSN is not text")))?;
        Ssn::parse(&digits)
            .map(Some)
            .map_err(|_| Error::Internal(format!("producer {owner}: decrypted SSN is invalid")))
    }
}

/// The error for a stored value that breaks its rule.
fn corrupt(id: ProducerId, what: &str) -> Error {
    Error::Internal(format!("producer {id} has an invalid stored {what}"))
}

/// A stored value through its parser; a failure means the row is corrupt.
fn stored<T>(id: ProducerId, what: &str, parsed: Result<T, InvalidValue>) -> Result<T, Error> {
    parsed.map_err(|_| corrupt(id, what))
}

fn load(
    conn: &mut PgConnection,
    protection: &Protection,
    account: &AccountId,
    id: ProducerId,
    view: SsnView,
    lock: bool,
) -> Result<Option<Producer>, Error> {
    let query = producers::table
        .find((account.as_str(), id.as_uuid()))
        .select(ProducerRow::as_select());
    let row = if lock {
        query.for_update().first(conn).optional()?
    } else {
        query.first(conn).optional()?
    };
    row.map(|row| row.into_domain(protection, view)).transpose()
}

/// The producer with this id in this account, its SSN decrypted only for `view`.
pub fn find(
    conn: &mut PgConnection,
    protection: &Protection,
    account: &AccountId,
    id: ProducerId,
    view: SsnView,
) -> Result<Producer, Error> {
    load(conn, protection, account, id, view, false)?.ok_or(Error::NotFound("producer"))
}

/// The producer with all its children, from one snapshot (a read-only repeatable-read
/// transaction), so the children match the producer's version.
pub fn find_full(
    conn: &mut PgConnection,
    protection: &Protection,
    account: &AccountId,
    id: ProducerId,
    view: SsnView,
) -> Result<FullProducer, Error> {
    super::in_snapshot(conn, |conn| {
        Ok(FullProducer {
            producer: find(conn, protection, account, id, view)?,
            addresses: list_all::<Addresses>(conn, account, id)?,
            phones: list_all::<Phones>(conn, account, id)?,
            bank_accounts: list_all::<BankAccounts>(conn, account, id)?,
            insurance_policies: list_all::<InsurancePolicies>(conn, account, id)?,
        })
    })
}

/// The producer with this NPN in this account.
pub fn find_by_npn(
    conn: &mut PgConnection,
    protection: &Protection,
    account: &AccountId,
    npn: &Npn,
    view: SsnView,
) -> Result<Producer, Error> {
    producers::table
        .filter(producers::account_id.eq(account.as_str()))
        .filter(producers::npn.eq(npn.as_str()))
        .select(ProducerRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(Error::NotFound("producer"))?
        .into_domain(protection, view)
}

/// One page of the account's producers matching `filter`, in id (creation) order.
pub fn list(
    conn: &mut PgConnection,
    protection: &Protection,
    account: &AccountId,
    filter: &ProducerFilter,
    page: PageRequest<ProducerId>,
    view: SsnView,
) -> Result<Page<Producer>, Error> {
    let mut query = producers::table
        .filter(producers::account_id.eq(account.as_str()))
        .select(ProducerRow::as_select())
        .into_boxed();
    if let Some(producer_type) = filter.producer_type {
        query = query.filter(producers::producer_type.eq(codes::producer_type(producer_type)));
    }
    if !filter.npns.is_empty() {
        let npns: Vec<&str> = filter.npns.iter().map(Npn::as_str).collect();
        query = query.filter(producers::npn.eq_any(npns));
    }
    if let Some(since) = filter.updated_since {
        query = query.filter(producers::updated_at.ge(since));
    }
    if let Some(index) = &filter.ssn {
        query = query.filter(producers::ssn_blind_index.eq(index.0.to_vec()));
    }
    if let Some(state) = &filter.address_state {
        query = query.filter(exists(
            schema::addresses::table
                .filter(schema::addresses::account_id.eq(producers::account_id))
                .filter(schema::addresses::producer_id.eq(producers::id))
                .filter(schema::addresses::country.eq(CountryCode::US.as_str()))
                .filter(schema::addresses::state.eq(state.as_str())),
        ));
    }
    if let Some(day) = filter.covered_on {
        query = query.filter(exists(
            schema::insurance_policies::table
                .filter(schema::insurance_policies::account_id.eq(producers::account_id))
                .filter(schema::insurance_policies::producer_id.eq(producers::id))
                .filter(schema::insurance_policies::expiry_date.gt(day))
                .filter(schema::insurance_policies::effective_date.le(day)),
        ));
    }
    if let Some(after) = page.after {
        query = query.filter(producers::id.gt(after.as_uuid()));
    }
    let rows = query
        .order(producers::id.asc())
        .limit(page.size.get() as i64 + 1)
        .load::<ProducerRow>(conn)?;
    super::page_of(rows, page.size, |row| row.into_domain(protection, view))
}

/// Creates a producer.
pub fn create(
    conn: &mut PgConnection,
    cx: &WriteContext,
    account: &AccountId,
    data: &ProducerData,
) -> Result<Producer, Error> {
    let protection = &cx.protection;
    conn.transaction(|conn| {
        let id = ProducerId::generate();
        let row = diesel::insert_into(producers::table)
            .values((
                producers::account_id.eq(account.as_str()),
                producers::id.eq(id.as_uuid()),
                ProducerValues::new(data, protection, account, id),
            ))
            .returning(ProducerRow::as_returning())
            .get_result(conn)?;
        let created = row.into_domain(protection, SsnView::Full)?;
        let history = History {
            account,
            producer: id,
            npn: &created.data.npn,
            // The first event has sequence 1, the producer's first version.
            version_before: Version::new(0),
        };
        let state = ResourceState::Producer(Box::new(created.clone()));
        outbox::append(conn, cx, history, vec![Change::created(state)])?;
        Ok(created)
    })
}

/// Replaces the producer's data with what `change` derives from the current state,
/// under a row lock, after checking the caller's expected version. Writes nothing (and
/// keeps the version) when the data comes out unchanged.
pub fn update(
    conn: &mut PgConnection,
    cx: &WriteContext,
    account: &AccountId,
    id: ProducerId,
    expected: Option<Version>,
    change: impl FnOnce(&Producer) -> Result<ProducerData, Error>,
) -> Result<Producer, Error> {
    let protection = &cx.protection;
    conn.transaction(|conn| {
        let current = load(conn, protection, account, id, SsnView::Full, true)?
            .ok_or(Error::NotFound("producer"))?;
        Version::ensure_current(expected, current.version)?;
        let data = change(&current)?;
        if data == current.data {
            return Ok(current);
        }
        let row = diesel::update(producers::table.find((account.as_str(), id.as_uuid())))
            .set((
                ProducerValues::new(&data, protection, account, id),
                producers::version.eq(producers::version + 1),
                producers::updated_at.eq(now),
            ))
            .returning(ProducerRow::as_returning())
            .get_result(conn)?;
        let updated = row.into_domain(protection, SsnView::Full)?;
        let history = History {
            account,
            producer: id,
            npn: &updated.data.npn,
            version_before: current.version,
        };
        let change = Change::updated(
            ResourceState::Producer(Box::new(current.clone())),
            ResourceState::Producer(Box::new(updated.clone())),
        );
        outbox::append(conn, cx, history, vec![change])?;
        Ok(updated)
    })
}

/// Deletes the producer and its children after checking the caller's expected version,
/// and erases the answers kept for retries about them. Records a deleted event for each
/// child, then one for the producer.
pub fn delete(
    conn: &mut PgConnection,
    cx: &WriteContext,
    account: &AccountId,
    id: ProducerId,
    expected: Option<Version>,
) -> Result<(), Error> {
    conn.transaction(|conn| {
        // The last state, masked: a delete must not depend on the SSN key.
        let current = load(
            conn,
            &cx.protection,
            account,
            id,
            SsnView::LastFourOnly,
            true,
        )?
        .ok_or(Error::NotFound("producer"))?;
        Version::ensure_current(expected, current.version)?;
        // Children first, so a consumer never sees a child outlive its producer.
        let mut changes = deletions::<Addresses>(conn, account, id)?;
        changes.extend(deletions::<Phones>(conn, account, id)?);
        changes.extend(deletions::<BankAccounts>(conn, account, id)?);
        changes.extend(deletions::<InsurancePolicies>(conn, account, id)?);
        let history = History {
            account,
            producer: id,
            npn: &current.data.npn,
            version_before: current.version,
        };
        // The last snapshot carries the version its event ends on, like every event's.
        let mut last = current.clone();
        last.version = Version::new(current.version.get() + changes.len() as i64 + 1);
        changes.push(Change::deleted(ResourceState::Producer(Box::new(last))));
        diesel::delete(producers::table.find((account.as_str(), id.as_uuid()))).execute(conn)?;
        // Answers kept for retries that show the producer or its children go with it.
        super::request_keys::erase_answers_about(conn, account, id.as_uuid())?;
        outbox::append(conn, cx, history, changes)?;
        Ok(())
    })
}
