//! Producer messages → domain types. Input conversion runs every field's parser and
//! reports every violation at once, with paths relative to the `Producer` message (the
//! way back is `proto::render`).

use chrono::NaiveDate;
use prost_types::Timestamp;

use crate::domain::dates::DateOfBirth;
use crate::domain::identifiers::{CrdNumber, Fein, Npn, Ssn, SsnInfo, SsnLast4};
use crate::domain::producer::{
    BusinessType, Firm, Gender, Individual, ProducerData, ProducerDetails, ProducerType,
};
use crate::domain::text::{Email, Name};
use crate::domain::{InvalidValue, Violations};
use crate::proto::v1 as pb;

/// Parses an optional text input: empty (after trimming) is "not given".
pub(crate) fn optional<T>(
    raw: &str,
    parse: impl FnOnce(&str) -> Result<T, InvalidValue>,
) -> Result<Option<T>, InvalidValue> {
    if raw.trim().is_empty() {
        Ok(None)
    } else {
        parse(raw).map(Some)
    }
}

/// Parses a producer message. `today` anchors the date-of-birth rule; a date of birth
/// equal to `stored_date_of_birth` (an update that keeps it) is not checked again, so a
/// stored value stays acceptable as time passes.
pub fn producer_data(
    producer: &pb::Producer,
    today: NaiveDate,
    stored_date_of_birth: Option<NaiveDate>,
) -> Result<ProducerData, Violations> {
    let mut violations = Violations::new();
    let npn = violations.check("npn", Npn::parse(&producer.npn));
    let details = match &producer.details {
        Some(pb::producer::Details::Individual(person)) => {
            individual(person, today, stored_date_of_birth, &mut violations)
                .map(ProducerDetails::Individual)
        }
        Some(pb::producer::Details::Firm(firm_message)) => {
            firm(firm_message, &mut violations).map(ProducerDetails::Firm)
        }
        None => {
            violations.add(
                "details",
                "exactly one of `individual` or `firm` is required",
            );
            None
        }
    };
    match (npn, details) {
        (Some(npn), Some(details)) if violations.is_empty() => Ok(ProducerData { npn, details }),
        _ => Err(violations),
    }
}

fn individual(
    person: &pb::Individual,
    today: NaiveDate,
    stored_date_of_birth: Option<NaiveDate>,
    v: &mut Violations,
) -> Option<Individual> {
    let first_name = v.check("individual.first_name", Name::parse(&person.first_name));
    let last_name = v.check("individual.last_name", Name::parse(&person.last_name));
    let middle_name = v.check(
        "individual.middle_name",
        Name::parse_optional(&person.middle_name),
    );
    let suffix = v.check("individual.suffix", Name::parse_optional(&person.suffix));
    let gender = v.check("individual.gender", gender(person.gender));
    let date_of_birth = v.check(
        "individual.date_of_birth",
        DateOfBirth::parse_optional(&person.date_of_birth, today, stored_date_of_birth),
    );
    let ssn = v.check("individual.ssn", optional(&person.ssn, Ssn::parse));
    let last4 = v.check(
        "individual.ssn_last4",
        optional(&person.ssn_last4, SsnLast4::parse),
    );
    let ssn = match (ssn, last4) {
        (Some(ssn), Some(last4)) => {
            v.check("individual.ssn_last4", SsnInfo::from_parts(ssn, last4))
        }
        _ => None,
    };
    let crd = v.check(
        "individual.finra_crd_number",
        optional(&person.finra_crd_number, CrdNumber::parse),
    );
    let primary_email = v.check(
        "individual.primary_email",
        Email::parse_optional(&person.primary_email),
    );
    let secondary_email = v.check(
        "individual.secondary_email",
        Email::parse_optional(&person.secondary_email),
    );
    let title = v.check("individual.title", Name::parse_optional(&person.title));
    Some(Individual {
        first_name: first_name?,
        last_name: last_name?,
        middle_name: middle_name?,
        suffix: suffix?,
        gender: gender?,
        date_of_birth: date_of_birth?,
        ssn: ssn?,
        finra_crd_number: crd?,
        primary_email: primary_email?,
        secondary_email: secondary_email?,
        title: title?,
    })
}

fn firm(firm: &pb::Firm, v: &mut Violations) -> Option<Firm> {
    let name = v.check("firm.name", Name::parse(&firm.name));
    let business_type = v.check("firm.business_type", business_type(firm.business_type));
    let email = v.check("firm.email", Email::parse_optional(&firm.email));
    let fein = v.check("firm.fein", optional(&firm.fein, Fein::parse));
    let crd = v.check(
        "firm.finra_crd_number",
        optional(&firm.finra_crd_number, CrdNumber::parse),
    );
    Some(Firm {
        name: name?,
        business_type: business_type?,
        email: email?,
        fein: fein?,
        finra_crd_number: crd?,
    })
}

/// The error for an enum input outside the values this API defines.
pub(crate) fn unknown_enum() -> InvalidValue {
    InvalidValue::new("is not one of the values this API defines")
}

fn gender(raw: i32) -> Result<Option<Gender>, InvalidValue> {
    match pb::Gender::try_from(raw).map_err(|_| unknown_enum())? {
        pb::Gender::Unspecified => Ok(None),
        pb::Gender::Female => Ok(Some(Gender::Female)),
        pb::Gender::Male => Ok(Some(Gender::Male)),
        pb::Gender::NonBinary => Ok(Some(Gender::NonBinary)),
        pb::Gender::Undisclosed => Ok(Some(Gender::Undisclosed)),
    }
}

fn business_type(raw: i32) -> Result<Option<BusinessType>, InvalidValue> {
    match pb::BusinessType::try_from(raw).map_err(|_| unknown_enum())? {
        pb::BusinessType::Unspecified => Ok(None),
        pb::BusinessType::Corporation => Ok(Some(BusinessType::Corporation)),
        pb::BusinessType::Llc => Ok(Some(BusinessType::Llc)),
        pb::BusinessType::Partnership => Ok(Some(BusinessType::Partnership)),
        pb::BusinessType::SoleProprietorship => Ok(Some(BusinessType::SoleProprietorship)),
        pb::BusinessType::SCorporation => Ok(Some(BusinessType::SCorporation)),
        pb::BusinessType::NonProfit => Ok(Some(BusinessType::NonProfit)),
        pb::BusinessType::Other => Ok(Some(BusinessType::Other)),
    }
}

/// Reads a producer-type filter: UNSPECIFIED means "any".
pub fn producer_type(raw: i32) -> Result<Option<ProducerType>, InvalidValue> {
    match pb::ProducerType::try_from(raw).map_err(|_| unknown_enum())? {
        pb::ProducerType::Unspecified => Ok(None),
        pb::ProducerType::Individual => Ok(Some(ProducerType::Individual)),
        pb::ProducerType::Firm => Ok(Some(ProducerType::Firm)),
    }
}

/// Seconds of `0001-01-01T00:00:00Z` and `9999-12-31T23:59:59Z`: the range of
/// `google.protobuf.Timestamp`, which Postgres' `timestamptz` holds whole (it does not
/// hold every instant chrono does: 4714 BC would reach the database and fail there).
const TIMESTAMP_SECONDS: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_799;

/// The instant a timestamp input names, unless it is out of range.
pub(crate) fn time_of(value: &Timestamp) -> Result<chrono::DateTime<chrono::Utc>, InvalidValue> {
    let out_of_range =
        || InvalidValue::new("must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z");
    if !TIMESTAMP_SECONDS.contains(&value.seconds) {
        return Err(out_of_range());
    }
    u32::try_from(value.nanos)
        .ok()
        .filter(|nanos| *nanos < 1_000_000_000)
        .and_then(|nanos| chrono::DateTime::from_timestamp(value.seconds, nanos))
        .ok_or_else(|| InvalidValue::new("must have nanos from 0 to 999,999,999"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::producer::{Producer, SsnView};
    use crate::proto::render::{producer as producer_message, timestamp};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn accepted_timestamps_are_within_the_protobuf_range(seconds in any::<i64>(), nanos in any::<i32>()) {
            let value = Timestamp { seconds, nanos };
            match time_of(&value) {
                Ok(time) => {
                    prop_assert!(TIMESTAMP_SECONDS.contains(&time.timestamp()));
                    prop_assert_eq!(timestamp(time), value);
                }
                Err(_) => prop_assert!(!TIMESTAMP_SECONDS.contains(&seconds) || !(0..1_000_000_000).contains(&nanos)),
            }
        }
    }

    #[test]
    fn the_first_and_last_instants_of_the_range_are_accepted() {
        let first = Timestamp {
            seconds: *TIMESTAMP_SECONDS.start(),
            nanos: 0,
        };
        let last = Timestamp {
            seconds: *TIMESTAMP_SECONDS.end(),
            nanos: 999_999_999,
        };
        assert!(time_of(&first).is_ok() && time_of(&last).is_ok());
        assert!(
            time_of(&Timestamp {
                seconds: first.seconds - 1,
                nanos: 999_999_999
            })
            .is_err()
        );
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 29).unwrap()
    }

    fn fields(violations: &Violations) -> Vec<&str> {
        violations.iter().map(|v| v.field.as_str()).collect()
    }

    #[test]
    fn every_violation_is_reported_at_once() {
        let message = pb::Producer {
            npn: "12x".into(),
            details: Some(pb::producer::Details::Individual(pb::Individual {
                first_name: " ".into(),
                ssn: "000-12-3456".into(),
                primary_email: "nope".into(),
                gender: 42,
                date_of_birth: "2030-01-01".into(),
                ..Default::default()
            })),
            ..Default::default()
        };
        let violations = producer_data(&message, today(), None).unwrap_err();
        assert_eq!(
            fields(&violations),
            [
                "npn",
                "individual.first_name",
                "individual.last_name",
                "individual.gender",
                "individual.date_of_birth",
                "individual.ssn",
                "individual.primary_email",
            ]
        );
    }

    #[test]
    fn a_producer_needs_one_detail_block() {
        let message = pb::Producer {
            npn: "123".into(),
            ..Default::default()
        };
        assert_eq!(
            fields(&producer_data(&message, today(), None).unwrap_err()),
            ["details"]
        );
    }

    #[test]
    fn the_ssn_is_shown_only_in_the_full_view() {
        let message = pb::Producer {
            npn: "123".into(),
            details: Some(pb::producer::Details::Individual(pb::Individual {
                first_name: "Ada".into(),
                last_name: "Lovelace".into(),
                ssn: "123-45-6789".into(),
                ..Default::default()
            })),
            ..Default::default()
        };
        let data = producer_data(&message, today(), None).unwrap();
        let producer = Producer {
            id: crate::domain::ProducerId::generate(),
            account_id: crate::domain::AccountId::parse("ACME").unwrap(),
            data,
            version: crate::domain::Version::FIRST,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        };
        let individual_of = |view| match producer_message(&producer, view).details {
            Some(pb::producer::Details::Individual(person)) => person,
            _ => panic!("an individual"),
        };
        let masked = individual_of(SsnView::LastFourOnly);
        assert_eq!(
            (masked.ssn.as_str(), masked.ssn_last4.as_str()),
            ("", "6789")
        );
        let full = individual_of(SsnView::Full);
        assert_eq!(
            (full.ssn.as_str(), full.ssn_last4.as_str()),
            ("123456789", "6789")
        );
    }
}
