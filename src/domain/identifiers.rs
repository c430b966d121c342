//! Government and industry identifiers: NPN, SSN, FEIN and FINRA CRD number. Each type
//! can only be built by its parser, so holding one means the value is valid and normalised.

use std::fmt;

use super::error::InvalidValue;

/// National Producer Number assigned by NIPR: 1–10 digits, unique per account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Npn(String);

impl Npn {
    /// Trims surrounding spaces; then 1–10 ASCII digits.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(InvalidValue::new("is required"));
        }
        if trimmed.len() > 10 || !all_digits(trimmed) {
            return Err(InvalidValue::new("must be 1 to 10 digits"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The digits, without surrounding spaces.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Social Security Number, normalised to 9 digits.
///
/// `Debug` and `Display` never print it: an SSN must not reach a log line, an error or an
/// event by accident. Read the digits with [`Ssn::expose_digits`] where they are meant to
/// leave (encryption, the PII-scoped response).
#[derive(Clone, PartialEq, Eq)]
pub struct Ssn(String);

impl Ssn {
    /// Accepts `123-45-6789` or `123456789` (surrounding spaces trimmed). Rejects what the
    /// SSA never issues: area 000, 666 or 900–999, group 00, serial 0000.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let trimmed = raw.trim();
        let digits: String = match trimmed.len() {
            9 => trimmed.to_owned(),
            11 if trimmed.as_bytes()[3] == b'-' && trimmed.as_bytes()[6] == b'-' => {
                trimmed.chars().filter(|c| *c != '-').collect()
            }
            _ => String::new(),
        };
        if digits.len() != 9 || !all_digits(&digits) {
            return Err(InvalidValue::new(
                "must be 9 digits, written 123-45-6789 or 123456789",
            ));
        }
        let (area, group, serial) = (&digits[0..3], &digits[3..5], &digits[5..9]);
        if area == "000" || area == "666" || area.starts_with('9') {
            return Err(InvalidValue::new(
                "has an area number (first 3 digits) that is never issued: 000, 666 or 900-999",
            ));
        }
        if group == "00" {
            return Err(InvalidValue::new(
                "has a group number (digits 4-5) of 00, which is never issued",
            ));
        }
        if serial == "0000" {
            return Err(InvalidValue::new(
                "has a serial number (last 4 digits) of 0000, which is never issued",
            ));
        }
        Ok(Self(digits))
    }

    /// The 9 digits in clear. Call only where the value is meant to leave in clear or be
    /// encrypted.
    pub fn expose_digits(&self) -> &str {
        &self.0
    }

    /// The last four digits, the part a reader without the PII scope may see.
    pub fn last4(&self) -> SsnLast4 {
        SsnLast4(self.0[5..].to_owned())
    }
}

impl fmt::Debug for Ssn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ssn(<redacted>)")
    }
}

/// The last four digits of an SSN: the part every reader may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsnLast4(String);

impl SsnLast4 {
    /// Exactly 4 digits.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let trimmed = raw.trim();
        if trimmed.len() != 4 || !all_digits(trimmed) {
            return Err(InvalidValue::new("must be exactly 4 digits"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The four digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What is known of an individual's SSN. The last four digits are derived from the full
/// number whenever it is known, so the two can never disagree.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SsnInfo {
    /// No SSN of any kind is on file.
    #[default]
    Unknown,
    /// Only the last four digits were given.
    Last4Only(SsnLast4),
    /// The full number, in clear: given by a client or decrypted for a PII-scoped read.
    Full(Ssn),
    /// A full SSN is on file but was not decrypted for this read (the reader may only
    /// see the last four digits, so there was no reason to).
    Sealed(SsnLast4),
}

impl SsnInfo {
    /// Combines the two inputs. When both are given, `last4` must be the last four
    /// digits of `ssn`; the error is about `last4`.
    pub fn from_parts(ssn: Option<Ssn>, last4: Option<SsnLast4>) -> Result<Self, InvalidValue> {
        match (ssn, last4) {
            (Some(ssn), Some(last4)) if ssn.last4() != last4 => Err(InvalidValue::new(
                "must be the last four digits of ssn when both are given",
            )),
            (Some(ssn), _) => Ok(SsnInfo::Full(ssn)),
            (None, Some(last4)) => Ok(SsnInfo::Last4Only(last4)),
            (None, None) => Ok(SsnInfo::Unknown),
        }
    }

    /// The full number when it is held in clear here (not when [`SsnInfo::Sealed`]).
    pub fn full(&self) -> Option<&Ssn> {
        match self {
            SsnInfo::Full(ssn) => Some(ssn),
            _ => None,
        }
    }

    /// The last four digits whenever any are known, derived from the full number if held.
    pub fn last4(&self) -> Option<SsnLast4> {
        match self {
            SsnInfo::Unknown => None,
            SsnInfo::Last4Only(last4) | SsnInfo::Sealed(last4) => Some(last4.clone()),
            SsnInfo::Full(ssn) => Some(ssn.last4()),
        }
    }
}

/// Federal Employer Identification Number, normalised to 9 digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fein(String);

impl Fein {
    /// Accepts `12-3456789` or `123456789` (surrounding spaces trimmed).
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let trimmed = raw.trim();
        let digits = match trimmed.len() {
            10 if trimmed.as_bytes()[2] == b'-' => format!("{}{}", &trimmed[..2], &trimmed[3..]),
            _ => trimmed.to_owned(),
        };
        if digits.len() != 9 || !all_digits(&digits) {
            return Err(InvalidValue::new(
                "must be 9 digits, written 12-3456789 or 123456789",
            ));
        }
        Ok(Self(digits))
    }

    /// The 9 digits, without the dash.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// FINRA Central Registration Depository number: 1–10 digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrdNumber(String);

impl CrdNumber {
    /// Trims surrounding spaces; then 1–10 ASCII digits.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.len() > 10 || !all_digits(trimmed) {
            return Err(InvalidValue::new("must be digits only, at most 10"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The digits, without surrounding spaces.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn all_digits(value: &str) -> bool {
    value.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn npn_accepts_one_to_ten_digits_only() {
        assert_eq!(Npn::parse(" 1234567 ").unwrap().as_str(), "1234567");
        assert!(Npn::parse("1").is_ok());
        assert!(Npn::parse("1234567890").is_ok());
        assert!(Npn::parse("").is_err());
        assert!(Npn::parse("12345678901").is_err());
        assert!(Npn::parse("12a4").is_err());
        assert!(Npn::parse("-123").is_err());
        assert_eq!(Npn::parse("\u{a0}123\t").unwrap().as_str(), "123");
        assert!(
            Npn::parse("12\u{a0}34").is_err(),
            "whitespace inside is refused"
        );
    }

    #[test]
    fn ssn_accepts_dashed_and_plain_forms_and_normalises() {
        assert_eq!(
            Ssn::parse("123-45-6789").unwrap().expose_digits(),
            "123456789"
        );
        assert_eq!(
            Ssn::parse("123456789").unwrap().expose_digits(),
            "123456789"
        );
        assert!(Ssn::parse("12-345-6789").is_err());
        assert!(Ssn::parse("123 45 6789").is_err());
        assert!(Ssn::parse("12345678").is_err());
        assert!(Ssn::parse("1234567890").is_err());
    }

    #[test]
    fn ssn_rejects_numbers_that_are_never_issued() {
        for never_issued in [
            "000-12-3456",
            "666-12-3456",
            "900-12-3456",
            "999-12-3456",
            "123-00-4567",
            "123-45-0000",
        ] {
            assert!(Ssn::parse(never_issued).is_err(), "{never_issued}");
        }
        assert!(Ssn::parse("899-99-9999").is_ok());
        assert!(Ssn::parse("001-01-0001").is_ok());
    }

    #[test]
    fn ssn_never_prints_its_digits() {
        let ssn = Ssn::parse("123-45-6789").unwrap();
        let printed = format!("{ssn:?} {:?}", SsnInfo::Full(ssn.clone()));
        assert!(!printed.contains("6789"), "{printed}");
        assert!(!printed.contains("123"), "{printed}");
    }

    #[test]
    fn ssn_info_derives_last4_and_requires_agreement() {
        let ssn = Ssn::parse("123-45-6789").unwrap();
        let matching = SsnLast4::parse("6789").unwrap();
        let other = SsnLast4::parse("1111").unwrap();
        let info = SsnInfo::from_parts(Some(ssn.clone()), Some(matching.clone())).unwrap();
        assert_eq!(info.last4(), Some(matching.clone()));
        assert_eq!(
            SsnInfo::from_parts(Some(ssn.clone()), None)
                .unwrap()
                .last4(),
            Some(matching)
        );
        assert!(SsnInfo::from_parts(Some(ssn), Some(other.clone())).is_err());
        assert_eq!(
            SsnInfo::from_parts(None, Some(other.clone())),
            Ok(SsnInfo::Last4Only(other))
        );
        assert_eq!(SsnInfo::from_parts(None, None), Ok(SsnInfo::Unknown));
    }

    #[test]
    fn fein_accepts_both_written_forms() {
        assert_eq!(Fein::parse("12-3456789").unwrap().as_str(), "123456789");
        assert_eq!(Fein::parse("123456789").unwrap().as_str(), "123456789");
        assert!(Fein::parse("123-456789").is_err());
        assert!(Fein::parse("12345678").is_err());
        assert!(Fein::parse("12-34567890").is_err());
    }

    #[test]
    fn crd_number_is_up_to_ten_digits() {
        assert!(CrdNumber::parse("1234567890").is_ok());
        assert!(CrdNumber::parse("12345678901").is_err());
        assert!(CrdNumber::parse("12A").is_err());
        assert!(CrdNumber::parse("").is_err());
    }

    fn issued_ssn_parts() -> impl Strategy<Value = (u16, u8, u16)> {
        (
            (1u16..900).prop_filter("666 is never issued", |a| *a != 666),
            1u8..100,
            1u16..10000,
        )
    }

    proptest! {
        #[test]
        fn npn_round_trips_every_digit_string_up_to_ten(digits in "[0-9]{1,10}") {
            let npn = Npn::parse(&digits).unwrap();
            prop_assert_eq!(npn.as_str(), digits.as_str());
        }

        #[test]
        // Whitespace around the digits (any Unicode whitespace, as `trim` knows it) is
        // trimmed, not refused, so the one non-digit is anything else.
        fn npn_rejects_anything_with_a_non_digit(raw in "[0-9]{0,4}[^0-9\\s][0-9]{0,4}") {
            prop_assert!(Npn::parse(&raw).is_err());
        }

        #[test]
        fn every_issued_ssn_parses_in_both_forms_to_the_same_digits((area, group, serial) in issued_ssn_parts()) {
            let dashed = format!("{area:03}-{group:02}-{serial:04}");
            let plain = dashed.replace('-', "");
            let from_dashed = Ssn::parse(&dashed).unwrap();
            prop_assert_eq!(from_dashed.expose_digits(), plain.as_str());
            prop_assert_eq!(Ssn::parse(&plain).unwrap(), from_dashed.clone());
            let last4 = from_dashed.last4();
            prop_assert_eq!(last4.as_str(), &plain[5..]);
        }

        #[test]
        fn ssn_parse_never_panics_and_only_yields_nine_digits(raw in "\\PC{0,16}") {
            if let Ok(ssn) = Ssn::parse(&raw) {
                prop_assert_eq!(ssn.expose_digits().len(), 9);
                prop_assert!(ssn.expose_digits().bytes().all(|b| b.is_ascii_digit()));
            }
        }

        #[test]
        fn last4_accepts_exactly_four_digits(raw in "\\PC{0,6}") {
            let four_digits = raw.trim().len() == 4 && raw.trim().bytes().all(|b| b.is_ascii_digit());
            prop_assert_eq!(SsnLast4::parse(&raw).is_ok(), four_digits);
        }

        #[test]
        fn crd_numbers_are_one_to_ten_digits(raw in "\\PC{0,12}") {
            let trimmed = raw.trim();
            let valid = (1..=10).contains(&trimmed.len()) && trimmed.bytes().all(|b| b.is_ascii_digit());
            prop_assert_eq!(CrdNumber::parse(&raw).is_ok(), valid);
        }

        #[test]
        fn fein_parse_yields_nine_digits_or_an_error(raw in "\\PC{0,12}") {
            if let Ok(fein) = Fein::parse(&raw) {
                prop_assert_eq!(fein.as_str().len(), 9);
                prop_assert!(fein.as_str().bytes().all(|b| b.is_ascii_digit()));
            }
        }
    }
}
