//! Identifiers: the account (tenant), server-assigned resource ids, client request ids and
//! the producer's version.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use super::error::{Error, InvalidValue};

/// The tenant every record belongs to. It comes from the caller's credentials, never
/// from a request field.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

impl AccountId {
    /// Longest accepted account id; ids are keys in every table, so they stay short.
    pub const MAX_LEN: usize = 128;

    /// Accepts 1–128 characters of `A–Z a–z 0–9 _ - . : @ |` (what identity providers put
    /// in tenant claims), nothing that could be confused in logs or keys.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "_-.:@|".contains(c);
        if raw.is_empty() || raw.len() > Self::MAX_LEN || !raw.chars().all(allowed) {
            return Err(InvalidValue::new(
                "must be 1-128 characters of letters, digits and _ - . : @ |",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The id exactly as the credentials carried it: the `account_id` key of every table.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What every server-assigned id is: a UUID with a type of its own.
pub trait ResourceId: Copy {
    /// A new id: a UUID v7, so ids sort by creation time.
    fn generate() -> Self {
        Self::from_uuid(Uuid::now_v7())
    }
    /// Wraps a UUID read back from a row or a page cursor; no check that it is a v7.
    fn from_uuid(uuid: Uuid) -> Self;
    /// The UUID, as stored and as sent on the wire.
    fn as_uuid(&self) -> Uuid;
}

/// Declares a server-assigned resource id: a UUID v7, so ids sort by creation time and
/// keyset pagination by id lists resources oldest first. Each resource has its own type,
/// so an address id can never be passed where a phone id is expected.
macro_rules! resource_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A new id: UUID v7, so it sorts after every id generated before it.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps a UUID read back from a row or a page cursor; no check that it is a
            /// v7.
            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID, as stored and as sent on the wire.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl ResourceId for $name {
            fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;

            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(raw.trim()).map(Self).map_err(|_| {
                    InvalidValue::new(concat!("must be ", $what, " id as returned by the API"))
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

resource_id!(
    /// A producer's id.
    ProducerId,
    "a producer"
);
resource_id!(
    /// An address's id.
    AddressId,
    "an address"
);
resource_id!(
    /// A phone's id.
    PhoneId,
    "a phone"
);
resource_id!(
    /// A bank account's id.
    BankAccountId,
    "a bank account"
);
resource_id!(
    /// An insurance policy's id.
    PolicyId,
    "an insurance policy"
);
resource_id!(
    /// A webhook endpoint's id.
    EndpointId,
    "an endpoint"
);
resource_id!(
    /// A webhook delivery's id (one event to one endpoint).
    DeliveryId,
    "a delivery"
);

/// A client-chosen idempotency key for creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// Empty means "no idempotency key"; otherwise 1–128 printable ASCII characters.
    pub fn parse(raw: &str) -> Result<Option<Self>, InvalidValue> {
        if raw.is_empty() {
            return Ok(None);
        }
        if raw.len() > 128 || !raw.chars().all(|c| c.is_ascii_graphic()) {
            return Err(InvalidValue::new(
                "must be 1-128 printable ASCII characters without spaces",
            ));
        }
        Ok(Some(Self(raw.to_owned())))
    }

    /// The key as the client sent it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The producer's version: 1 at creation, one more after every change to it or its
/// children. Sent to callers as the etag and in events as `sequence`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(i64);

impl Version {
    /// The version a producer is created at.
    pub const FIRST: Version = Version(1);

    /// Wraps a stored version; no check that it is at least 1 (0 stands for "before
    /// creation" in a create's history).
    pub fn new(value: i64) -> Self {
        Self(value)
    }

    /// The number of changes so far: the etag's and the event's `sequence` value.
    pub fn get(&self) -> i64 {
        self.0
    }

    /// Reads an etag sent back by a caller. Empty means "no precondition".
    pub fn parse_etag(raw: &str) -> Result<Option<Self>, InvalidValue> {
        let trimmed = raw.trim().trim_start_matches("W/").trim_matches('"');
        if raw.trim().is_empty() {
            return Ok(None);
        }
        match trimmed.parse::<i64>() {
            Ok(value) if value >= 1 => Ok(Some(Self(value))),
            _ => Err(InvalidValue::new("must be an etag as returned by the API")),
        }
    }

    /// The etag form of this version.
    pub fn etag(&self) -> String {
        self.0.to_string()
    }

    /// The version after one more change.
    pub fn next(&self) -> Self {
        Self(self.0 + 1)
    }

    /// Checks an optional precondition: `Err(Stale)` when the caller read an older (or
    /// different) version than `current`.
    pub fn ensure_current(expected: Option<Version>, current: Version) -> Result<(), Error> {
        match expected {
            Some(expected) if expected != current => Err(Error::Stale { current }),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_version_round_trips_through_its_etag(value in 1i64..i64::MAX) {
            let version = Version::new(value);
            prop_assert_eq!(Version::parse_etag(&version.etag()), Ok(Some(version)));
        }

        #[test]
        fn account_ids_accept_exactly_their_alphabet(raw in "[A-Za-z0-9_.:@| -]{0,130}") {
            let valid = (1..=128).contains(&raw.len()) && !raw.contains(' ');
            prop_assert_eq!(AccountId::parse(&raw).is_ok(), valid);
        }

        #[test]
        fn request_ids_are_printable_ascii_without_spaces(raw in "\\PC{0,130}") {
            let valid = raw.is_empty()
                || (raw.len() <= 128 && raw.chars().all(|c| c.is_ascii_graphic()));
            prop_assert_eq!(RequestId::parse(&raw).is_ok(), valid);
        }
    }

    #[test]
    fn etags_round_trip_and_accept_quoted_forms() {
        let version = Version::new(42);
        assert_eq!(Version::parse_etag(&version.etag()), Ok(Some(version)));
        assert_eq!(Version::parse_etag("\"42\""), Ok(Some(version)));
        assert_eq!(Version::parse_etag("W/\"42\""), Ok(Some(version)));
        assert_eq!(Version::parse_etag(""), Ok(None));
        assert!(Version::parse_etag("0").is_err());
        assert!(Version::parse_etag("abc").is_err());
    }

    #[test]
    fn account_ids_reject_spaces_and_overlong_values() {
        assert!(AccountId::parse("ACME").is_ok());
        assert!(AccountId::parse("tenant:42|eu").is_ok());
        assert!(AccountId::parse("").is_err());
        assert!(AccountId::parse("a b").is_err());
        assert!(AccountId::parse(&"a".repeat(129)).is_err());
    }

    #[test]
    fn request_ids_are_optional_and_bounded() {
        assert_eq!(RequestId::parse(""), Ok(None));
        assert!(RequestId::parse("4b1c-req").unwrap().is_some());
        assert!(RequestId::parse("has space").is_err());
        assert!(RequestId::parse(&"x".repeat(129)).is_err());
    }
}
