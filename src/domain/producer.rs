//! The producer: an individual agent or a firm, identified in its account by NPN.

use chrono::{DateTime, NaiveDate, Utc};

use super::address::{Address, UsState};
use super::bank_account::BankAccount;
use super::insurance_policy::InsurancePolicy;
use super::phone::Phone;

use super::dates::DateOfBirth;
use super::identifiers::{CrdNumber, Fein, Npn, SsnInfo};
use super::ids::{AccountId, ProducerId, Version};
use super::text::{Email, Name};

/// What a client supplies for a producer: every field valid, every cross-field rule held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerData {
    /// Unique within the account.
    pub npn: Npn,
    /// The individual's or the firm's fields.
    pub details: ProducerDetails,
}

/// The type-specific part of a producer: exactly one of the two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProducerDetails {
    /// A natural person licensed to sell insurance.
    Individual(Individual),
    /// A firm (agency, brokerage) licensed to sell insurance.
    Firm(Firm),
}

impl ProducerDetails {
    /// Which of the two this is: what the API's output-only `type` and the list filter
    /// name.
    pub fn producer_type(&self) -> ProducerType {
        match self {
            ProducerDetails::Individual(_) => ProducerType::Individual,
            ProducerDetails::Firm(_) => ProducerType::Firm,
        }
    }
}

/// Which kind of producer a profile describes, without its details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProducerType {
    /// A natural person.
    Individual,
    /// A firm.
    Firm,
}

/// A natural person licensed to sell insurance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Individual {
    /// Given name.
    pub first_name: Name,
    /// Family name.
    pub last_name: Name,
    /// Middle name or names.
    pub middle_name: Option<Name>,
    /// For example "Jr." or "III".
    pub suffix: Option<Name>,
    /// Not given is `None`; [`Gender::Undisclosed`] is a stated choice.
    pub gender: Option<Gender>,
    /// Checked against the day of the write, except a value the update keeps.
    pub date_of_birth: Option<DateOfBirth>,
    /// What is known of the SSN; stored encrypted, with a blind index for the SSN filter.
    pub ssn: SsnInfo,
    /// FINRA Central Registration Depository number.
    pub finra_crd_number: Option<CrdNumber>,
    /// The main contact email.
    pub primary_email: Option<Email>,
    /// Another contact email; no rule ties it to the primary one.
    pub secondary_email: Option<Email>,
    /// Job title, for example "Principal Agent".
    pub title: Option<Name>,
}

/// A firm (agency, brokerage) licensed to sell insurance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firm {
    /// Legal name.
    pub name: Name,
    /// Its legal form.
    pub business_type: Option<BusinessType>,
    /// Contact email.
    pub email: Option<Email>,
    /// Federal Employer Identification Number.
    pub fein: Option<Fein>,
    /// FINRA Central Registration Depository number.
    pub finra_crd_number: Option<CrdNumber>,
}

/// A closed list; "not given" is `None` where it is used, never a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gender {
    /// Female.
    Female,
    /// Male.
    Male,
    /// Non-binary.
    NonBinary,
    /// The producer chose not to say.
    Undisclosed,
}

/// The legal form of a firm. A closed list; "not given" is `None` where it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusinessType {
    /// A corporation (an S corporation is [`BusinessType::SCorporation`]).
    Corporation,
    /// Limited liability company.
    Llc,
    /// Partnership.
    Partnership,
    /// Sole proprietorship.
    SoleProprietorship,
    /// S corporation.
    SCorporation,
    /// Non-profit organisation.
    NonProfit,
    /// Any other legal form.
    Other,
}

/// A stored producer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Producer {
    /// Server-assigned; UUID v7.
    pub id: ProducerId,
    /// The tenant that owns it; every read and write is scoped by it.
    pub account_id: AccountId,
    /// What the client last wrote.
    pub data: ProducerData,
    /// Moves on with every change to the producer or to any of its children.
    pub version: Version,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When the producer or one of its children last changed.
    pub updated_at: DateTime<Utc>,
}

/// A producer with all its children, read at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullProducer {
    /// The producer itself.
    pub producer: Producer,
    /// Oldest first, like every child collection.
    pub addresses: Vec<Address>,
    /// Oldest first.
    pub phones: Vec<Phone>,
    /// Oldest first; each with the last four digits of its number only.
    pub bank_accounts: Vec<BankAccount>,
    /// Oldest first.
    pub insurance_policies: Vec<InsurancePolicy>,
}

/// How much of the SSN a reader may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsnView {
    /// Only the last four digits: every caller without the PII scope. Reads for this
    /// view do not decrypt the SSN at all.
    LastFourOnly,
    /// The full SSN as well.
    Full,
}

/// A keyed hash of a normalised SSN: finds producers by SSN without decrypting anything.
#[derive(Clone, PartialEq, Eq)]
pub struct SsnBlindIndex(pub [u8; 32]);

impl std::fmt::Debug for SsnBlindIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SsnBlindIndex(..)")
    }
}

/// Which producers a list returns. Every filter given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerFilter {
    /// Only individuals or only firms.
    pub producer_type: Option<ProducerType>,
    /// Empty: any NPN.
    pub npns: Vec<Npn>,
    /// Only producers changed (or whose children changed) at or after this time.
    pub updated_since: Option<DateTime<Utc>>,
    /// Only the individual whose full SSN has this blind index.
    pub ssn: Option<SsnBlindIndex>,
    /// Only producers with at least one US address in this state.
    pub address_state: Option<UsState>,
    /// Only producers with an E&O policy whose coverage is active on this day.
    pub covered_on: Option<NaiveDate>,
}

impl ProducerFilter {
    /// Most NPNs one list call may filter by, as many as one page can hold.
    pub const MAX_NPNS: usize = 500;
}
