//! The text codes enums are stored as. Stored codes are part of the schema: renaming a
//! variant in Rust must not change them.

use crate::domain::producer::{BusinessType, Gender, ProducerType};

pub fn producer_type(value: ProducerType) -> &'static str {
    match value {
        ProducerType::Individual => "INDIVIDUAL",
        ProducerType::Firm => "FIRM",
    }
}

pub fn parse_producer_type(code: &str) -> Option<ProducerType> {
    [ProducerType::Individual, ProducerType::Firm]
        .into_iter()
        .find(|v| producer_type(*v) == code)
}

pub fn gender(value: Gender) -> &'static str {
    match value {
        Gender::Female => "FEMALE",
        Gender::Male => "MALE",
        Gender::NonBinary => "NON_BINARY",
        Gender::Undisclosed => "UNDISCLOSED",
    }
}

pub fn parse_gender(code: &str) -> Option<Gender> {
    [
        Gender::Female,
        Gender::Male,
        Gender::NonBinary,
        Gender::Undisclosed,
    ]
    .into_iter()
    .find(|v| gender(*v) == code)
}

pub fn business_type(value: BusinessType) -> &'static str {
    match value {
        BusinessType::Corporation => "CORPORATION",
        BusinessType::Llc => "LLC",
        BusinessType::Partnership => "PARTNERSHIP",
        BusinessType::SoleProprietorship => "SOLE_PROPRIETORSHIP",
        BusinessType::SCorporation => "S_CORPORATION",
        BusinessType::NonProfit => "NON_PROFIT",
        BusinessType::Other => "OTHER",
    }
}

pub fn parse_business_type(code: &str) -> Option<BusinessType> {
    [
        BusinessType::Corporation,
        BusinessType::Llc,
        BusinessType::Partnership,
        BusinessType::SoleProprietorship,
        BusinessType::SCorporation,
        BusinessType::NonProfit,
        BusinessType::Other,
    ]
    .into_iter()
    .find(|v| business_type(*v) == code)
}
