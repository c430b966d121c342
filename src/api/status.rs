//! The one table from errors to gRPC statuses. Internal causes are logged here and
//! replaced by a generic message: callers never see database or crypto details.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use crate::auth::AuthError;
use crate::domain::{Error, Violations};

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        match error {
            Error::Invalid(violations) => {
                let details = violations
                    .iter()
                    .map(|v| FieldViolation::new(v.field.clone(), v.description.clone()))
                    .collect::<Vec<_>>();
                Status::with_error_details(
                    Code::InvalidArgument,
                    invalid_message(&violations),
                    ErrorDetails::with_bad_request(details),
                )
            }
            Error::NotFound(what) => Status::not_found(format!("{what} not found")),
            Error::AlreadyExists(message) => Status::already_exists(message),
            Error::OutOfRange(message) => Status::out_of_range(message),
            Error::FailedPrecondition(message) => Status::failed_precondition(message),
            stale @ Error::Stale { .. } => Status::aborted(stale.to_string()),
            Error::Unavailable(cause) => {
                tracing::warn!(%cause, "request failed: storage unavailable");
                Status::unavailable("the database is unavailable; retry later")
            }
            Error::Internal(cause) => {
                tracing::error!(%cause, "request failed: internal error");
                Status::internal("internal error")
            }
        }
    }
}

/// Violations named in the status message itself; the `BadRequest` details list them
/// all (up to [`Violations::MAX_LISTED`]). The message is percent-encoded in a trailer,
/// where every space takes three bytes: kept short, the answer stays small.
const VIOLATIONS_IN_MESSAGE: usize = 2;

/// `invalid request: a: rule; b: rule; and N more (see the BadRequest details)`.
fn invalid_message(violations: &Violations) -> String {
    let mut message = String::from("invalid request: ");
    for (i, violation) in violations.iter().take(VIOLATIONS_IN_MESSAGE).enumerate() {
        if i > 0 {
            message.push_str("; ");
        }
        message.push_str(&format!("{}: {}", violation.field, violation.description));
    }
    let more = violations
        .iter()
        .count()
        .saturating_sub(VIOLATIONS_IN_MESSAGE)
        + violations.unlisted();
    if more > 0 {
        message.push_str(&format!("; and {more} more (see the BadRequest details)"));
    }
    message
}

impl From<AuthError> for Status {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::MissingToken | AuthError::InvalidToken(_) => {
                Status::unauthenticated(error.to_string())
            }
            AuthError::MissingScope(_) => Status::permission_denied(error.to_string()),
        }
    }
}
