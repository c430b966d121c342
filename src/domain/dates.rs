//! Calendar dates on the wire (`YYYY-MM-DD`) and the date-of-birth rule.
//!
//! Rules that depend on "today" take it as an argument: the domain reads no clock, which
//! keeps it deterministic under test.

use chrono::{Datelike, Months, NaiveDate};

use super::error::InvalidValue;

/// Parses an optional `YYYY-MM-DD` date; empty means "not given".
pub fn parse_optional_date(raw: &str) -> Result<Option<NaiveDate>, InvalidValue> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    // chrono's %Y also accepts signs and 5+ digit years: insist on the plain form.
    let shape_ok = trimmed.len() == 10
        && trimmed.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(InvalidValue::new("must be a date written YYYY-MM-DD"));
    }
    let date = NaiveDate::parse_from_str(trimmed, "%Y-%m-%d")
        .map_err(|_| InvalidValue::new("must be a real calendar date written YYYY-MM-DD"))?;
    // Year 0000 is 1 BC: no date this API stores or filters on lies there.
    if date.year() < 1 {
        return Err(InvalidValue::new(
            "must be between 0001-01-01 and 9999-12-31",
        ));
    }
    Ok(Some(date))
}

/// A date of birth: not in the future and not more than 130 years before today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateOfBirth(NaiveDate);

impl DateOfBirth {
    /// Oldest accepted age, counted back from the `today` the caller passes.
    pub const MAX_AGE_YEARS: u32 = 130;

    /// Checks `date` against `today`: not after it and at most [`Self::MAX_AGE_YEARS`]
    /// before it.
    pub fn new(date: NaiveDate, today: NaiveDate) -> Result<Self, InvalidValue> {
        if date > today {
            return Err(InvalidValue::new("must not be in the future"));
        }
        let oldest = today
            .checked_sub_months(Months::new(12 * Self::MAX_AGE_YEARS))
            .unwrap_or(NaiveDate::MIN);
        if date < oldest {
            return Err(InvalidValue::new(
                "must not be more than 130 years in the past",
            ));
        }
        Ok(Self(date))
    }

    /// Parses an optional `YYYY-MM-DD` date of birth; empty means "not given". The value
    /// already `stored` is accepted as it is: a producer born 129 years ago stays
    /// updatable next year.
    pub fn parse_optional(
        raw: &str,
        today: NaiveDate,
        stored: Option<NaiveDate>,
    ) -> Result<Option<Self>, InvalidValue> {
        parse_optional_date(raw)?
            .map(|date| match stored {
                Some(kept) if kept == date => Ok(Self(date)),
                _ => Self::new(date, today),
            })
            .transpose()
    }

    /// A date that was valid when stored. Ages are not re-checked on read.
    pub fn from_stored(date: NaiveDate) -> Self {
        Self(date)
    }

    /// The calendar date, to store and to render.
    pub fn date(&self) -> NaiveDate {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day(raw: &str) -> NaiveDate {
        NaiveDate::parse_from_str(raw, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn dates_must_be_plain_iso_calendar_dates() {
        assert_eq!(
            parse_optional_date("2001-02-03"),
            Ok(Some(day("2001-02-03")))
        );
        assert_eq!(parse_optional_date(""), Ok(None));
        for bad in [
            "2001-02-30",
            "2001-2-3",
            "03/02/2001",
            "+2001-02-03",
            "20010203",
            "0000-01-01",
        ] {
            assert!(parse_optional_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn date_of_birth_bounds_are_inclusive() {
        let today = day("2026-11-29");
        assert!(DateOfBirth::new(today, today).is_ok());
        assert!(DateOfBirth::new(day("2026-11-30"), today).is_err());
        assert!(DateOfBirth::new(day("1896-11-29"), today).is_ok());
        assert!(DateOfBirth::new(day("1896-11-28"), today).is_err());
    }

    #[test]
    fn a_stored_date_of_birth_is_not_checked_again() {
        let today = day("2026-11-29");
        let old = day("1896-11-28");
        assert!(DateOfBirth::parse_optional("1896-11-28", today, None).is_err());
        assert_eq!(
            DateOfBirth::parse_optional("1896-11-28", today, Some(old))
                .unwrap()
                .map(|d| d.date()),
            Some(old)
        );
        assert!(DateOfBirth::parse_optional("1896-11-27", today, Some(old)).is_err());
    }

    proptest! {
        #[test]
        fn every_formatted_date_parses_back(days in 0i64..80_000) {
            let date = day("1900-01-01") + chrono::Days::new(days as u64);
            let text = date.format("%Y-%m-%d").to_string();
            prop_assert_eq!(parse_optional_date(&text), Ok(Some(date)));
        }
    }
}
