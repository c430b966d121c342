//! Free-text fields: names and email addresses, and excerpts of input for error text.

use std::fmt;

use super::error::InvalidValue;

/// Short free text: a person's or firm's name, a title, an address line, a city, a policy
/// number. Trimmed, non-empty, at most 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    /// Longest accepted name, counted in characters (not bytes).
    pub const MAX_CHARS: usize = 100;

    /// A required name: empty (after trimming) is an error.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Self::parse_optional(raw)?.ok_or_else(|| InvalidValue::new("is required"))
    }

    /// An optional name: empty (after trimming) means "not given".
    pub fn parse_optional(raw: &str) -> Result<Option<Self>, InvalidValue> {
        Self::parse_optional_within(raw, Self::MAX_CHARS)
    }

    /// An optional text of at most `max_chars` characters (for fields with a tighter
    /// limit, such as a bank account's nickname).
    pub fn parse_optional_within(
        raw: &str,
        max_chars: usize,
    ) -> Result<Option<Self>, InvalidValue> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Ok(None);
        }
        if trimmed.chars().count() > max_chars {
            return Err(InvalidValue::new(format!(
                "must be at most {max_chars} characters"
            )));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(InvalidValue::new("must not contain control characters"));
        }
        Ok(Some(Self(trimmed.to_owned())))
    }

    /// The trimmed text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A syntactically valid email address (RFC 5322 addr-spec, as checked by the
/// `email_address` crate) of at most 254 characters, the limit of SMTP paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Longest accepted address, in bytes: the SMTP path limit.
    pub const MAX_LEN: usize = 254;

    /// Empty (after trimming) means "not given".
    pub fn parse_optional(raw: &str) -> Result<Option<Self>, InvalidValue> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Ok(None);
        }
        if trimmed.len() > Self::MAX_LEN {
            return Err(InvalidValue::new("must be at most 254 characters"));
        }
        // Display names ("Jo <jo@example.com>") are valid RFC 5322 but are not an address.
        if !email_address::EmailAddress::is_valid(trimmed) || trimmed.contains(['<', '>', ' ']) {
            return Err(InvalidValue::new(
                "must be an email address like name@example.com",
            ));
        }
        Ok(Some(Self(trimmed.to_owned())))
    }

    /// The trimmed address, as given (case kept).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How much of a caller's input an error message quotes.
pub const EXCERPT_CHARS: usize = 32;

/// `input` quoted for an error message: at most [`EXCERPT_CHARS`] characters (then `…`),
/// control characters escaped. An error names what was wrong without echoing a request
/// back at many times its size.
pub fn excerpt(input: &str) -> String {
    let mut quoted: String = input.chars().take(EXCERPT_CHARS).collect::<String>();
    if input.chars().nth(EXCERPT_CHARS).is_some() {
        quoted.push('…');
    }
    format!("{quoted:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn excerpts_are_short_and_quoted() {
        assert_eq!(excerpt("city"), "\"city\"");
        let long = excerpt(&"x".repeat(10_000));
        assert_eq!(long.chars().count(), EXCERPT_CHARS + 3);
        assert!(long.ends_with("…\""));
        assert_eq!(excerpt("a\nb"), "\"a\\nb\"");
    }

    #[test]
    fn names_are_trimmed_bounded_and_required_when_asked() {
        assert_eq!(Name::parse("  Ada ").unwrap().as_str(), "Ada");
        assert!(Name::parse("   ").is_err());
        assert_eq!(Name::parse_optional("  "), Ok(None));
        assert!(Name::parse(&"é".repeat(100)).is_ok());
        assert!(Name::parse(&"é".repeat(101)).is_err());
        assert!(Name::parse("Ada\u{0}Lovelace").is_err());
    }

    #[test]
    fn emails_must_be_addresses() {
        assert!(Email::parse_optional("jo@example.com").unwrap().is_some());
        assert_eq!(Email::parse_optional(""), Ok(None));
        for bad in [
            "jo",
            "jo@",
            "@example.com",
            "Jo <jo@example.com>",
            "jo @example.com",
        ] {
            assert!(Email::parse_optional(bad).is_err(), "{bad}");
        }
        let address = |last_label: usize| {
            let labels = format!(
                "{}.{}.{}",
                "b".repeat(60),
                "c".repeat(60),
                "d".repeat(last_label)
            );
            format!("{}@{labels}.com", "a".repeat(64))
        };
        assert_eq!(address(63).len(), 254);
        assert!(Email::parse_optional(&address(63)).unwrap().is_some());
        assert!(
            Email::parse_optional(&address(64)).is_err(),
            "255 characters"
        );
    }

    proptest! {
        #[test]
        fn parsed_names_are_trimmed_and_within_the_limit(raw in "\\PC{0,120}") {
            if let Ok(Some(name)) = Name::parse_optional(&raw) {
                prop_assert_eq!(name.as_str(), raw.trim());
                prop_assert!(name.as_str().chars().count() <= Name::MAX_CHARS);
                prop_assert!(!name.as_str().is_empty());
            }
        }

        #[test]
        fn simple_addresses_are_accepted(local in "[a-z0-9]{1,20}", domain in "[a-z]{1,20}") {
            let address = format!("{local}@{domain}.com");
            let email = Email::parse_optional(&address).unwrap().unwrap();
            prop_assert_eq!(email.as_str(), address.as_str());
        }
    }
}
