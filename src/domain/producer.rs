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
    pub npn: Npn,
    pub details: ProducerDetails,
}

/// The type-specific part of a producer: exactly one of the two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProducerDetails {
    Individual(Individual),
    Firm(Firm),
}

impl ProducerDetails {
    pub fn producer_type(&self) -> ProducerType {
        match self {
            ProducerDetails::Individual(_) => ProducerType::Individual,
            ProducerDetails::Firm(_) => ProducerType::Firm,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProducerType {
    Individual,
    Firm,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Individual {
    pub first_name: Name,
    pub last_name: Name,
    pub middle_name: Option<Name>,
    pub suffix: Option<Name>,
    pub gender: Option<Gender>,
    pub date_of_birth: Option<DateOfBirth>,
    pub ssn: SsnInfo,
    pub finra_crd_number: Option<CrdNumber>,
    pub primary_email: Option<Email>,
    pub secondary_email: Option<Email>,
    pub title: Option<Name>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firm {
    pub name: Name,
    pub business_type: Option<BusinessType>,
    pub email: Option<Email>,
    pub fein: Option<Fein>,
    pub finra_crd_number: Option<CrdNumber>,
}

/// A closed list; "not given" is `None` where it is used, never a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gender {
    Female,
    Male,
    NonBinary,
    Undisclosed,
}

/// The legal form of a firm. A closed list; "not given" is `None` where it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusinessType {
    Corporation,
    Llc,
    Partnership,
    SoleProprietorship,
    SCorporation,
    NonProfit,
    Other,
}

/// A stored producer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Producer {
    pub id: ProducerId,
    pub account_id: AccountId,
    pub data: ProducerData,
    pub version: Version,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A producer with all its children, read at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullProducer {
    pub producer: Producer,
    pub addresses: Vec<Address>,
    pub phones: Vec<Phone>,
    pub bank_accounts: Vec<BankAccount>,
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
    pub producer_type: Option<ProducerType>,
    /// Empty: any NPN.
    pub npns: Vec<Npn>,
    pub updated_since: Option<DateTime<Utc>>,
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
