//! The text codes enums are stored as. Stored codes are part of the schema (the tables'
//! CHECK constraints list them): renaming a variant in Rust must not change them.

use crate::domain::address::AddressType;
use crate::domain::bank_account::BankAccountType;
use crate::domain::insurance_policy::PolicyType;
use crate::domain::phone::PhoneType;
use crate::domain::producer::{BusinessType, Gender, ProducerType};
use crate::domain::webhook::DeliveryStatus;

/// Declares the pair of functions that write an enum as its code and read it back.
macro_rules! stored_codes {
    ($write:ident, $read:ident, $type:ident { $($variant:ident => $code:literal),+ $(,)? }) => {
        #[doc = concat!("The code a [`", stringify!($type), "`] is stored as.")]
        pub const fn $write(value: $type) -> &'static str {
            match value {
                $($type::$variant => $code),+
            }
        }

        #[doc = concat!("The [`", stringify!($type), "`] stored as `code`.")]
        pub fn $read(code: &str) -> Option<$type> {
            match code {
                $($code => Some($type::$variant),)+
                _ => None,
            }
        }
    };
}

stored_codes!(producer_type, parse_producer_type, ProducerType {
    Individual => "INDIVIDUAL",
    Firm => "FIRM",
});

stored_codes!(gender, parse_gender, Gender {
    Female => "FEMALE",
    Male => "MALE",
    NonBinary => "NON_BINARY",
    Undisclosed => "UNDISCLOSED",
});

stored_codes!(business_type, parse_business_type, BusinessType {
    Corporation => "CORPORATION",
    Llc => "LLC",
    Partnership => "PARTNERSHIP",
    SoleProprietorship => "SOLE_PROPRIETORSHIP",
    SCorporation => "S_CORPORATION",
    NonProfit => "NON_PROFIT",
    Other => "OTHER",
});

stored_codes!(address_type, parse_address_type, AddressType {
    Mailing => "MAILING",
    Business => "BUSINESS",
    Residence => "RESIDENCE",
    Billing => "BILLING",
});

stored_codes!(phone_type, parse_phone_type, PhoneType {
    Cell => "CELL",
    Business => "BUSINESS",
    Home => "HOME",
    Fax => "FAX",
});

stored_codes!(bank_account_type, parse_bank_account_type, BankAccountType {
    Checking => "CHECKING",
    Savings => "SAVINGS",
});

stored_codes!(policy_type, parse_policy_type, PolicyType {
    Individual => "INDIVIDUAL",
    Firm => "FIRM",
});

stored_codes!(delivery_status, parse_delivery_status, DeliveryStatus {
    Pending => "pending",
    Succeeded => "succeeded",
    Failed => "failed",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_back_as_the_value_written() {
        for value in [
            AddressType::Mailing,
            AddressType::Business,
            AddressType::Residence,
            AddressType::Billing,
        ] {
            assert_eq!(parse_address_type(address_type(value)), Some(value));
        }
        for value in [
            Gender::Female,
            Gender::Male,
            Gender::NonBinary,
            Gender::Undisclosed,
        ] {
            assert_eq!(parse_gender(gender(value)), Some(value));
        }
        assert_eq!(
            parse_business_type(business_type(BusinessType::SCorporation)),
            Some(BusinessType::SCorporation)
        );
        assert_eq!(parse_phone_type("FAX"), Some(PhoneType::Fax));
        assert_eq!(
            parse_bank_account_type("SAVINGS"),
            Some(BankAccountType::Savings)
        );
        assert_eq!(
            parse_policy_type(policy_type(PolicyType::Firm)),
            Some(PolicyType::Firm)
        );
        assert_eq!(parse_producer_type("individual"), None, "codes are exact");
    }
}
