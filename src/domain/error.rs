//! The service's error vocabulary. Every layer speaks it; the API maps it to gRPC status
//! codes in one place (`api::status`). Messages never contain sensitive values: a
//! violation names the field and the rule, not the value that broke it.

use std::fmt;

use super::ids::Version;

/// One broken rule on one input field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field in the request, e.g. `producer.individual.ssn`.
    pub field: String,
    /// The rule that was broken, in words a caller can act on.
    pub description: String,
}

/// Every rule an input broke, collected so the caller can fix them all at once — up to
/// [`Violations::MAX_LISTED`] of them, so that an answer stays a few KiB whatever the
/// request: gRPC clients refuse trailers over 8–16 KiB, and the caller would then learn
/// nothing at all. Beyond that only the count is kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations {
    listed: Vec<FieldViolation>,
    /// Violations found past the first [`Violations::MAX_LISTED`].
    unlisted: usize,
}

impl Violations {
    /// Most violations listed one by one.
    pub const MAX_LISTED: usize = 20;
    /// Longest field path and description kept (in bytes; longer ones are cut at a
    /// character boundary and end in `…`). Descriptions are the service's own words plus
    /// short excerpts of input ([`crate::domain::text::excerpt`]); this is the backstop.
    ///
    /// With these, an INVALID_ARGUMENT answer's trailers stay under 8 KiB whatever was
    /// sent: 20 × (64 + 160) bytes of details, base64-encoded, plus a message naming
    /// the first two (`api::status`).
    pub const MAX_FIELD_BYTES: usize = 64;
    /// Longest description kept, in bytes (see [`Violations::MAX_FIELD_BYTES`]).
    pub const MAX_DESCRIPTION_BYTES: usize = 160;

    /// No violations yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A single violation, for rules checked on their own.
    pub fn one(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut violations = Self::new();
        violations.add(field, description);
        violations
    }

    /// Records one violation; past [`Violations::MAX_LISTED`] it is only counted.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        if self.listed.len() == Self::MAX_LISTED {
            self.unlisted += 1;
            return;
        }
        self.listed.push(FieldViolation {
            field: cut(field.into(), Self::MAX_FIELD_BYTES),
            description: cut(description.into(), Self::MAX_DESCRIPTION_BYTES),
        });
    }

    /// Keeps the value of a successful parse; records the failure of a failed one under
    /// `field` and returns `None`, so parsing goes on and later fields are checked too.
    pub fn check<T>(&mut self, field: &str, parsed: Result<T, InvalidValue>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(invalid) => {
                self.add(field, invalid.0);
                None
            }
        }
    }

    /// Like [`Violations::check`] for optional inputs, where `Ok(None)` means "not given".
    pub fn check_optional<T>(
        &mut self,
        field: &str,
        parsed: Result<Option<T>, InvalidValue>,
    ) -> Option<T> {
        self.check(field, parsed).flatten()
    }

    /// Moves every violation of `other` here.
    pub fn extend(&mut self, other: Violations) {
        self.extend_prefixed("", other);
    }

    /// Moves every violation of `other` here, with `prefix.` put in front of its field
    /// (nothing for an empty prefix).
    pub fn extend_prefixed(&mut self, prefix: &str, other: Violations) {
        for violation in other.listed {
            let field = if prefix.is_empty() {
                violation.field
            } else {
                format!("{prefix}.{}", violation.field)
            };
            self.add(field, violation.description);
        }
        self.unlisted += other.unlisted;
    }

    /// Whether nothing was violated. Counted-only violations are never alone: they come
    /// after [`Violations::MAX_LISTED`] listed ones.
    pub fn is_empty(&self) -> bool {
        self.listed.is_empty()
    }

    /// The violations listed one by one (at most [`Violations::MAX_LISTED`]).
    pub fn iter(&self) -> impl Iterator<Item = &FieldViolation> {
        self.listed.iter()
    }

    /// How many violations were found beyond those listed.
    pub fn unlisted(&self) -> usize {
        self.unlisted
    }

    /// `Ok(value())` when nothing was violated, otherwise every violation as an error.
    pub fn into_result<T>(self, value: impl FnOnce() -> T) -> Result<T, Violations> {
        if self.is_empty() {
            Ok(value())
        } else {
            Err(self)
        }
    }
}

/// `text`, cut to at most `max` bytes at a character boundary, ending in `…` when cut.
fn cut(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
    text
}

impl Violations {
    /// Ends a parse: the parsed value when nothing was violated, otherwise every
    /// violation. A value missing without a violation is a parser bug (Internal).
    pub fn finish<T>(self, value: Option<T>) -> Result<T, Error> {
        if !self.is_empty() {
            return Err(Error::Invalid(self));
        }
        value.ok_or_else(|| Error::Internal("a parsed value is missing without a violation".into()))
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for violation in &self.listed {
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            write!(f, "{}: {}", violation.field, violation.description)?;
        }
        if self.unlisted > 0 {
            write!(f, "; and {} more", self.unlisted)?;
        }
        Ok(())
    }
}

/// Why one value was rejected by its parser: the rule, never the value itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

impl InvalidValue {
    /// The rule that was broken, in words a caller can act on; never the value.
    pub fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}

/// What went wrong with an operation, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request broke one or more input rules; nothing was changed.
    #[error("invalid request: {0}")]
    Invalid(Violations),
    /// The resource does not exist in the caller's account (or belongs to another one:
    /// the two are deliberately indistinguishable).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A unique rule was broken, e.g. a second producer with the same NPN in one account.
    #[error("{0}")]
    AlreadyExists(String),
    /// The request is well formed but the world is not as it needs to be, e.g. an
    /// endpoint that did not accept its verification request.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The request asks for something no longer there to give, e.g. a feed cursor older
    /// than the event retention.
    #[error("{0}")]
    OutOfRange(String),
    /// The caller sent an etag the resource has moved on from.
    #[error("the resource changed since it was read; its etag is now \"{current}\"")]
    Stale {
        /// The version the resource is at now, so the caller can re-read and retry.
        current: Version,
    },
    /// The database cannot be reached or has no free connection; retrying later may work.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or an unexpected state. The text is for the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<Violations> for Error {
    fn from(violations: Violations) -> Self {
        Error::Invalid(violations)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_limit_only_the_count_is_kept() {
        let mut violations = Violations::new();
        for i in 0..1000 {
            violations.add(format!("npns[{i}]"), "must be 1–10 digits");
        }
        assert_eq!(violations.iter().count(), Violations::MAX_LISTED);
        assert_eq!(violations.unlisted(), 1000 - Violations::MAX_LISTED);
        assert!(violations.to_string().ends_with("; and 980 more"));
        let mut outer = Violations::one("id", "is required");
        outer.extend_prefixed("filter", violations);
        assert_eq!(outer.iter().count(), Violations::MAX_LISTED);
        assert_eq!(
            outer.unlisted(),
            981,
            "what the inner list left out is counted"
        );
        assert_eq!(outer.iter().nth(1).unwrap().field, "filter.npns[0]");
    }

    #[test]
    fn long_fields_and_descriptions_are_cut_at_a_character_boundary() {
        let violations = Violations::one("é".repeat(80), "ü".repeat(300));
        let violation = violations.iter().next().unwrap();
        assert!(violation.field.len() <= Violations::MAX_FIELD_BYTES);
        assert!(violation.description.len() <= Violations::MAX_DESCRIPTION_BYTES);
        assert!(violation.description.ends_with('…'));
        assert_eq!(cut("short".into(), 10), "short");
    }
}
