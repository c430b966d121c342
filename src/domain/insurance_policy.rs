//! E&O (errors and omissions) insurance policies, and when their coverage is active.

use std::fmt;

use chrono::NaiveDate;

use super::error::InvalidValue;
use super::text::Name;

/// A stored insurance policy.
pub type InsurancePolicy = super::child::Child<super::ids::PolicyId, InsurancePolicyData>;

/// The E&O policies of a producer.
pub struct InsurancePolicies;

impl super::child::ChildKind for InsurancePolicies {
    type Id = super::ids::PolicyId;
    type Data = InsurancePolicyData;
    type Secret = super::child::NoSecret;

    const NAME: &'static str = "insurance policy";

    fn state(child: InsurancePolicy) -> super::event::ResourceState {
        super::event::ResourceState::InsurancePolicy(child)
    }
}

/// A coverage limit: an exact amount of dollars and cents from 1.00 to 10,000,000.00.
/// Held as whole cents, never as a float; written `1000000`, `1000000.5` or `1000000.50`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TotalLimit(u64);

impl TotalLimit {
    /// 1.00, the smallest limit accepted.
    pub const MIN_CENTS: u64 = 100;
    /// 10,000,000.00, the largest limit accepted.
    pub const MAX_CENTS: u64 = 1_000_000_000;

    /// Trims surrounding spaces; then whole dollars with up to two decimals, no sign or
    /// separators, within the range.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let trimmed = raw.trim();
        let shape = || InvalidValue::new("must be a decimal amount like 1000000 or 1000000.00");
        let (whole, fraction) = trimmed.split_once('.').unwrap_or((trimmed, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || whole.len() > 12 || !digits(whole) || !digits(fraction) {
            return Err(shape());
        }
        if trimmed.contains('.') && fraction.is_empty() {
            return Err(shape());
        }
        if fraction.len() > 2 {
            return Err(InvalidValue::new(
                "must have at most 2 decimal places (cents)",
            ));
        }
        let whole: u64 = whole.parse().map_err(|_| shape())?;
        let cents: u64 = format!("{fraction:0<2}").parse().map_err(|_| shape())?;
        Self::from_cents(whole * 100 + cents)
    }

    /// A limit of `cents` whole cents, if within the range (a stored value or a parsed
    /// one).
    pub fn from_cents(cents: u64) -> Result<Self, InvalidValue> {
        if (Self::MIN_CENTS..=Self::MAX_CENTS).contains(&cents) {
            Ok(Self(cents))
        } else {
            Err(InvalidValue::new("must be from 1.00 to 10000000.00"))
        }
    }

    /// The limit in whole cents.
    pub fn cents(&self) -> u64 {
        self.0
    }
}

impl fmt::Display for TotalLimit {
    /// Always two decimals: `1000000.00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

/// The period a policy covers: from `effective` (inclusive) to `expiry` (exclusive),
/// with `expiry` strictly after `effective`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoveragePeriod {
    effective: NaiveDate,
    expiry: NaiveDate,
}

impl CoveragePeriod {
    /// Fails unless `expiry` is after `effective`; the error is about `expiry`.
    pub fn new(effective: NaiveDate, expiry: NaiveDate) -> Result<Self, InvalidValue> {
        if expiry <= effective {
            return Err(InvalidValue::new("must be after effective_date"));
        }
        Ok(Self { effective, expiry })
    }

    /// The first day of coverage.
    pub fn effective(&self) -> NaiveDate {
        self.effective
    }

    /// The first day without coverage.
    pub fn expiry(&self) -> NaiveDate {
        self.expiry
    }

    /// Coverage is active on `day` when effective ≤ day < expiry.
    pub fn is_active_on(&self, day: NaiveDate) -> bool {
        self.effective <= day && day < self.expiry
    }
}

/// Whose coverage a policy is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyType {
    /// Coverage of one individual producer.
    Individual,
    /// Group or blanket coverage held by a firm.
    Firm,
}

/// A policy as a client supplies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsurancePolicyData {
    /// The insurer; part of the display name.
    pub carrier: Name,
    /// The carrier's number for the policy; part of the display name.
    pub policy_number: Name,
    /// The certificate's number, if the carrier issued one.
    pub certificate_number: Option<Name>,
    /// Whose coverage it is.
    pub policy_type: PolicyType,
    /// The coverage limit, if given.
    pub total_limit: Option<TotalLimit>,
    /// When coverage is active: what the `covered_on` list filter checks.
    pub period: CoveragePeriod,
}

impl InsurancePolicyData {
    /// The computed display name: `{carrier}: {policyNumber}`.
    pub fn name(&self) -> String {
        format!("{}: {}", self.carrier.as_str(), self.policy_number.as_str())
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
    fn limits_are_exact_and_bounded() {
        assert_eq!(TotalLimit::parse("1").unwrap().cents(), 100);
        assert_eq!(TotalLimit::parse("1.0").unwrap().cents(), 100);
        assert_eq!(
            TotalLimit::parse("10000000").unwrap().to_string(),
            "10000000.00"
        );
        assert_eq!(
            TotalLimit::parse("2500000.5").unwrap().to_string(),
            "2500000.50"
        );
        for bad in [
            "0",
            "0.99",
            "10000000.01",
            "-5",
            "1,000,000",
            "1e6",
            "1.",
            ".5",
            "1.005",
            "",
            "abc",
        ] {
            assert!(TotalLimit::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn coverage_is_active_from_effective_up_to_but_not_on_expiry() {
        let period = CoveragePeriod::new(day("2026-01-01"), day("2027-01-01")).unwrap();
        assert!(!period.is_active_on(day("2025-12-31")));
        assert!(period.is_active_on(day("2026-01-01")));
        assert!(period.is_active_on(day("2026-12-31")));
        assert!(!period.is_active_on(day("2027-01-01")));
        assert!(CoveragePeriod::new(day("2026-01-01"), day("2026-01-01")).is_err());
        assert!(CoveragePeriod::new(day("2026-01-02"), day("2026-01-01")).is_err());
    }

    proptest! {
        #[test]
        fn limits_round_trip_through_their_text(cents in TotalLimit::MIN_CENTS..=TotalLimit::MAX_CENTS) {
            let limit = TotalLimit::from_cents(cents).unwrap();
            prop_assert_eq!(TotalLimit::parse(&limit.to_string()).unwrap(), limit);
        }

        #[test]
        fn any_text_parses_or_fails_without_panicking(raw in "\\PC{0,16}") {
            let _ = TotalLimit::parse(&raw);
        }

        #[test]
        fn parsed_limits_stay_in_bounds(raw in "[0-9]{1,9}(\\.[0-9]{1,2})?") {
            if let Ok(limit) = TotalLimit::parse(&raw) {
                prop_assert!((TotalLimit::MIN_CENTS..=TotalLimit::MAX_CENTS).contains(&limit.cents()));
            }
        }
    }
}
