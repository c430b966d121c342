//! Addresses: where a producer lives, works, gets mail and bills. US addresses follow
//! USPS rules (state code, ZIP); others carry an ISO 3166-1 country and free-form region
//! and postal code.

use chrono::NaiveDate;

use super::error::{InvalidValue, Violations};
use super::text::Name;

/// A stored address.
pub type Address = super::child::Child<super::ids::AddressId, AddressData>;

/// The address collection of a producer.
pub struct Addresses;

impl super::child::ChildKind for Addresses {
    type Id = super::ids::AddressId;
    type Data = AddressData;
    type Secret = super::child::NoSecret;

    const NAME: &'static str = "address";

    fn state(child: Address) -> super::event::ResourceState {
        super::event::ResourceState::Address(child)
    }

    /// The preferred address of each type.
    fn holds_flag(data: &AddressData) -> bool {
        data.preferred
    }

    fn with_flag(data: &AddressData) -> AddressData {
        AddressData {
            preferred: true,
            ..data.clone()
        }
    }
}

/// An ISO 3166-1 alpha-2 country code, upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// The country an address has when none is given.
    pub const US: CountryCode = CountryCode(*b"US");

    /// Two letters of an officially assigned ISO 3166-1 code, any case; empty means US.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let upper = raw.trim().to_ascii_uppercase();
        if upper.is_empty() {
            return Ok(Self::US);
        }
        match ISO_3166_ALPHA2.iter().find(|code| **code == upper) {
            Some(code) => Ok(Self(code.as_bytes().try_into().expect("two letters"))),
            None => Err(InvalidValue::new(
                "must be an ISO 3166-1 alpha-2 country code, e.g. US or CA",
            )),
        }
    }

    /// The two letters, upper case.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("ASCII letters")
    }
}

/// A USPS state code: the 50 states, DC, and the territories PR, GU, VI, AS and MP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UsState([u8; 2]);

impl UsState {
    /// Any case, trimmed; required, since only US addresses have one.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let upper = raw.trim().to_ascii_uppercase();
        match USPS_STATES.iter().find(|code| **code == upper) {
            Some(code) => Ok(Self(code.as_bytes().try_into().expect("two letters"))),
            None if upper.is_empty() => Err(InvalidValue::new("is required for a US address")),
            None => Err(InvalidValue::new(
                "must be a USPS state code (e.g. CA, NY, DC or PR)",
            )),
        }
    }

    /// The two letters, upper case.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("ASCII letters")
    }
}

/// A US ZIP code: `12345` or ZIP+4 `12345-6789`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsZip(String);

impl UsZip {
    /// Trimmed; required, since only US addresses have one.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let trimmed = raw.trim();
        // Compared byte by byte: slicing a string with multi-byte characters by position
        // could split one.
        let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
        let bytes = trimmed.as_bytes();
        let valid = match bytes.len() {
            5 => digits(bytes),
            10 => digits(&bytes[..5]) && bytes[5] == b'-' && digits(&bytes[6..]),
            _ => false,
        };
        if trimmed.is_empty() {
            Err(InvalidValue::new("is required for a US address"))
        } else if valid {
            Ok(Self(trimmed.to_owned()))
        } else {
            Err(InvalidValue::new("must be a ZIP code: 12345 or 12345-6789"))
        }
    }

    /// As written: five digits or ZIP+4.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Country, region and postal code, checked together: a US address needs a USPS state
/// and a ZIP code; elsewhere both are free text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A US address: state and ZIP are required and checked.
    Us {
        /// A USPS code, upper case.
        state: UsState,
        /// Five digits or ZIP+4.
        zip: UsZip,
    },
    /// Anywhere else: region and postal code are free text.
    Abroad {
        /// Never [`CountryCode::US`]: a US address is [`Location::Us`].
        country: CountryCode,
        /// State, province or region, as written.
        region: Option<Name>,
        /// At most [`Location::MAX_POSTAL_CODE`] characters.
        postal_code: Option<Name>,
    },
}

impl Location {
    /// Longest postal code accepted outside the US.
    pub const MAX_POSTAL_CODE: usize = 20;

    /// Parses the three fields; violations name `country`, `state` or `zip`.
    pub fn parse(country: &str, state: &str, zip: &str) -> Result<Self, Violations> {
        let mut violations = Violations::new();
        let Some(country) = violations.check("country", CountryCode::parse(country)) else {
            return Err(violations);
        };
        let location = if country == CountryCode::US {
            let state = violations.check("state", UsState::parse(state));
            let zip = violations.check("zip", UsZip::parse(zip));
            state
                .zip(zip)
                .map(|(state, zip)| Location::Us { state, zip })
        } else {
            let region = violations.check("state", Name::parse_optional(state));
            let postal_code = violations.check(
                "zip",
                Name::parse_optional_within(zip, Self::MAX_POSTAL_CODE),
            );
            region
                .zip(postal_code)
                .map(|(region, postal_code)| Location::Abroad {
                    country,
                    region,
                    postal_code,
                })
        };
        location.filter(|_| violations.is_empty()).ok_or(violations)
    }

    /// The country, [`CountryCode::US`] for a US address.
    pub fn country(&self) -> &CountryCode {
        match self {
            Location::Us { .. } => &CountryCode::US,
            Location::Abroad { country, .. } => country,
        }
    }

    /// The state or region, as written.
    pub fn state(&self) -> Option<&str> {
        match self {
            Location::Us { state, .. } => Some(state.as_str()),
            Location::Abroad { region, .. } => region.as_ref().map(Name::as_str),
        }
    }

    /// The ZIP or postal code, as written.
    pub fn zip(&self) -> Option<&str> {
        match self {
            Location::Us { zip, .. } => Some(zip.as_str()),
            Location::Abroad { postal_code, .. } => postal_code.as_ref().map(Name::as_str),
        }
    }
}

/// What an address is used for. At most one address of each type is preferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressType {
    /// Where mail goes.
    Mailing,
    /// Where the producer does business.
    Business,
    /// Where the producer lives.
    Residence,
    /// Where bills go.
    Billing,
}

/// An address as a client supplies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressData {
    /// What it is used for; the preferred flag is per type.
    pub address_type: AddressType,
    /// Writing `true` clears it on the producer's other preferred address of this type.
    pub preferred: bool,
    /// The first line: street and number, or a PO box.
    pub line1: Name,
    /// The second address line, if any.
    pub line2: Option<Name>,
    /// The city or town.
    pub city: Name,
    /// The country, state and ZIP, checked together.
    pub location: Location,
    /// The county, as written; not checked against the state.
    pub county: Option<Name>,
    /// Not in the future, as of the day it was written (see [`check_move_in_date`]).
    pub move_in_date: Option<NaiveDate>,
}

/// A move-in date: not in the future (relative to `today`).
pub fn check_move_in_date(date: NaiveDate, today: NaiveDate) -> Result<NaiveDate, InvalidValue> {
    if date > today {
        Err(InvalidValue::new("must not be in the future"))
    } else {
        Ok(date)
    }
}

/// USPS codes of the 50 states, DC and the inhabited territories.
const USPS_STATES: [&str; 56] = [
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS",
    "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY",
    "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV",
    "WI", "WY", "DC", "PR", "GU", "VI", "AS", "MP",
];

/// Every officially assigned ISO 3166-1 alpha-2 code.
const ISO_3166_ALPHA2: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fields(violations: Violations) -> Vec<String> {
        violations.iter().map(|v| v.field.clone()).collect()
    }

    #[test]
    fn code_lists_have_no_duplicates() {
        let mut iso = ISO_3166_ALPHA2.to_vec();
        iso.sort_unstable();
        iso.dedup();
        assert_eq!(iso.len(), 249);
        let mut states = USPS_STATES.to_vec();
        states.sort_unstable();
        states.dedup();
        assert_eq!(states.len(), 56);
    }

    #[test]
    fn countries_default_to_us_and_are_case_insensitive() {
        assert_eq!(CountryCode::parse("").unwrap(), CountryCode::US);
        assert_eq!(CountryCode::parse(" ca ").unwrap().as_str(), "CA");
        assert!(CountryCode::parse("XX").is_err());
        assert!(CountryCode::parse("USA").is_err());
    }

    #[test]
    fn us_addresses_need_a_usps_state_and_a_zip() {
        let us = Location::parse("US", "ny", "10001-1234").unwrap();
        assert_eq!((us.state(), us.zip()), (Some("NY"), Some("10001-1234")));
        assert!(Location::parse("", "PR", "00901").is_ok());
        assert_eq!(
            fields(Location::parse("US", "XX", "1234").unwrap_err()),
            ["state", "zip"]
        );
        assert_eq!(
            fields(Location::parse("US", "", "").unwrap_err()),
            ["state", "zip"]
        );
        assert_eq!(
            fields(Location::parse("US", "CA", "12345-678").unwrap_err()),
            ["zip"]
        );
        assert_eq!(
            fields(Location::parse("Narnia", "CA", "12345").unwrap_err()),
            ["country"]
        );
    }

    #[test]
    fn foreign_addresses_take_free_text_regions_and_postal_codes() {
        let abroad = Location::parse("gb", "Greater London", "SW1A 1AA").unwrap();
        assert_eq!(abroad.country().as_str(), "GB");
        assert_eq!(abroad.zip(), Some("SW1A 1AA"));
        assert!(Location::parse("DE", "", "").is_ok());
        assert_eq!(
            fields(Location::parse("DE", "", &"9".repeat(21)).unwrap_err()),
            ["zip"]
        );
    }

    #[test]
    fn move_in_dates_are_not_in_the_future() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        assert!(check_move_in_date(today, today).is_ok());
        assert!(check_move_in_date(today.succ_opt().unwrap(), today).is_err());
    }

    proptest! {
        #[test]
        fn every_five_digit_zip_and_zip_plus_four_parses(zip in 0u32..100_000, plus in 0u32..10_000) {
            let five = format!("{zip:05}");
            prop_assert!(UsZip::parse(&five).is_ok());
            let plus_four = format!("{five}-{plus:04}");
            prop_assert!(UsZip::parse(&plus_four).is_ok());
        }

        #[test]
        fn zips_of_other_shapes_are_refused(raw in "[0-9]{1,4}|[0-9]{6,9}|[0-9]{5}-[0-9]{1,3}|[A-Z]{5}") {
            prop_assert!(UsZip::parse(&raw).is_err());
        }

        #[test]
        fn zip_parse_never_panics_and_keeps_only_valid_shapes(raw in "\\PC{0,12}") {
            if let Ok(zip) = UsZip::parse(&raw) {
                let text = zip.as_str();
                prop_assert!(text.len() == 5 || text.len() == 10);
                let shape_ok = text
                    .bytes()
                    .enumerate()
                    .all(|(i, b)| if i == 5 { b == b'-' } else { b.is_ascii_digit() });
                prop_assert!(shape_ok);
            }
        }

        #[test]
        fn location_parse_never_panics(country in "\\PC{0,4}", state in "\\PC{0,6}", zip in "\\PC{0,12}") {
            let _ = Location::parse(&country, &state, &zip);
        }

        #[test]
        fn only_listed_states_parse(code in "[A-Z]{2}") {
            prop_assert_eq!(UsState::parse(&code).is_ok(), USPS_STATES.contains(&code.as_str()));
        }
    }
}
