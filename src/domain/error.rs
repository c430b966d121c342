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

/// Every rule an input broke, collected so the caller can fix them all at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    /// A single violation, for rules checked on their own.
    pub fn one(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut violations = Self::new();
        violations.add(field, description);
        violations
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.into(),
            description: description.into(),
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
        self.0.extend(other.0);
    }

    /// Moves every violation of `other` here, with `prefix.` put in front of its field.
    pub fn extend_prefixed(&mut self, prefix: &str, other: Violations) {
        for violation in other.0 {
            self.add(
                format!("{prefix}.{}", violation.field),
                violation.description,
            );
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &FieldViolation> {
        self.0.iter()
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
        for violation in &self.0 {
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            write!(f, "{}: {}", violation.field, violation.description)?;
        }
        Ok(())
    }
}

/// Why one value was rejected by its parser: the rule, never the value itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

impl InvalidValue {
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
    Stale { current: Version },
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
