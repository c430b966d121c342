//! Phone numbers, stored in E.164. A US number may be written any usual way
//! (`(415) 555-0132`, `415.555.0132`, `1-415-555-0132`) and is normalised to `+1…`.
//!
//! Written by hand rather than with a full numbering-plan library: the rule is E.164
//! shape plus North American Numbering Plan checks for +1 numbers, which is a few lines,
//! where the libraries bring megabytes of per-country metadata.

use super::error::InvalidValue;

/// A stored phone.
pub type Phone = super::child::Child<super::ids::PhoneId, PhoneData>;

/// The phone collection of a producer.
pub struct Phones;

impl super::child::ChildKind for Phones {
    type Id = super::ids::PhoneId;
    type Data = PhoneData;
    type Secret = super::child::NoSecret;

    const NAME: &'static str = "phone";

    fn state(child: Phone) -> super::event::ResourceState {
        super::event::ResourceState::Phone(child)
    }

    /// The preferred phone.
    fn holds_flag(data: &PhoneData) -> bool {
        data.preferred
    }

    fn with_flag(data: &PhoneData) -> PhoneData {
        PhoneData {
            preferred: true,
            ..data.clone()
        }
    }
}

/// A phone number in E.164 form: `+`, a country code and subscriber number, 8–15 digits
/// in all (the country code never starts with 0). +1 numbers are NANP numbers: area
/// code and exchange start with 2–9.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Accepts E.164 (`+` and 8–15 digits) or, without `+`, a 10-digit North American
    /// number (or 11 digits starting with 1) with spaces, dashes, dots or parentheses.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(InvalidValue::new("is required"));
        }
        let (international, rest) = match trimmed.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        if !rest
            .chars()
            .all(|c| c.is_ascii_digit() || " -.()".contains(c))
        {
            return Err(invalid_number());
        }
        let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
        let e164 = if international {
            digits
        } else {
            // Without a +, only North American numbers are understood.
            match digits.len() {
                10 => format!("1{digits}"),
                11 if digits.starts_with('1') => digits,
                _ => return Err(invalid_number()),
            }
        };
        if !(8..=15).contains(&e164.len()) || e164.starts_with('0') {
            return Err(invalid_number());
        }
        if let Some(national) = e164.strip_prefix('1') {
            let nanp_ok = national.len() == 10
                && !matches!(national.as_bytes()[0], b'0' | b'1')
                && !matches!(national.as_bytes()[3], b'0' | b'1');
            if !nanp_ok {
                return Err(InvalidValue::new(
                    "is not a valid North American number: 10 digits, area code and exchange starting with 2-9",
                ));
            }
        }
        Ok(Self(format!("+{e164}")))
    }

    /// The E.164 form, e.g. `+14155550132`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn invalid_number() -> InvalidValue {
    InvalidValue::new("must be an international number (+ and 8-15 digits) or a 10-digit US number")
}

/// A phone extension: 1–6 digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension(String);

impl Extension {
    /// Longest accepted extension.
    pub const MAX_DIGITS: usize = 6;

    /// Empty (after trimming) means "no extension".
    pub fn parse_optional(raw: &str) -> Result<Option<Self>, InvalidValue> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Ok(None);
        }
        if trimmed.len() > Self::MAX_DIGITS || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidValue::new("must be digits only, at most 6"));
        }
        Ok(Some(Self(trimmed.to_owned())))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a phone is. At most one phone per producer is preferred, whatever its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhoneType {
    /// A mobile phone.
    Cell,
    /// A work phone.
    Business,
    /// A home landline.
    Home,
    /// A fax line.
    Fax,
}

/// A phone as a client supplies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneData {
    /// Normalised to E.164.
    pub number: PhoneNumber,
    /// What the phone is; the preferred flag is not per type.
    pub phone_type: PhoneType,
    /// Dialled after the number, if any.
    pub extension: Option<Extension>,
    /// Writing `true` clears it on the producer's previously preferred phone, whatever
    /// its type.
    pub preferred: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn us_numbers_are_normalised_whatever_the_punctuation() {
        for written in [
            "(415) 555-0132",
            "415.555.0132",
            "4155550132",
            "1-415-555-0132",
            "+1 415 555 0132",
        ] {
            assert_eq!(
                PhoneNumber::parse(written).unwrap().as_str(),
                "+14155550132",
                "{written}"
            );
        }
    }

    #[test]
    fn international_numbers_keep_their_country_code() {
        assert_eq!(
            PhoneNumber::parse("+44 20 7946 0958").unwrap().as_str(),
            "+442079460958"
        );
        assert!(PhoneNumber::parse("+0 123 456 789").is_err());
        assert!(PhoneNumber::parse("+1234567").is_err(), "too short");
        assert!(PhoneNumber::parse("+1234567890123456").is_err(), "too long");
    }

    #[test]
    fn invalid_north_american_numbers_are_refused() {
        for bad in [
            "(115) 555-0132",
            "415 155 0132",
            "555-0132",
            "41555501321",
            "415-555-0132 x12",
            "",
        ] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn extensions_are_up_to_six_digits() {
        assert_eq!(
            Extension::parse_optional("123456")
                .unwrap()
                .unwrap()
                .as_str(),
            "123456"
        );
        assert_eq!(Extension::parse_optional(" "), Ok(None));
        assert!(Extension::parse_optional("1234567").is_err());
        assert!(Extension::parse_optional("12a").is_err());
    }

    proptest! {
        #[test]
        fn every_valid_nanp_number_normalises_to_plus_one(area in 200u32..1000, exchange in 200u32..1000, line in 0u32..10_000) {
            let written = format!("({area}) {exchange}-{line:04}");
            let number = PhoneNumber::parse(&written).unwrap();
            prop_assert_eq!(number.as_str(), format!("+1{area}{exchange}{line:04}"));
            prop_assert_eq!(PhoneNumber::parse(number.as_str()).unwrap(), number.clone());
        }

        #[test]
        fn any_text_parses_or_fails_without_panicking(raw in "\\PC{0,24}") {
            let _ = PhoneNumber::parse(&raw);
            let _ = Extension::parse_optional(&raw);
        }

        #[test]
        fn parsed_numbers_are_always_e164(raw in "\\+?[0-9 ().-]{0,20}") {
            if let Ok(number) = PhoneNumber::parse(&raw) {
                let digits = &number.as_str()[1..];
                prop_assert!(number.as_str().starts_with('+'));
                prop_assert!((8..=15).contains(&digits.len()));
                prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()));
            }
        }
    }
}
