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

#[cfg(test)]
mod tests {
    use tonic_types::StatusExt;

    use super::*;
    use crate::auth::Scope;
    use crate::domain::Version;

    #[test]
    fn invalid_input_is_invalid_argument_with_every_field_in_the_details() {
        let mut violations = Violations::new();
        for field in ["npn", "individual.first_name", "individual.ssn"] {
            violations.add(field, "is wrong");
        }
        let status = Status::from(Error::Invalid(violations));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            status.message(),
            "invalid request: npn: is wrong; individual.first_name: is wrong; and 1 more \
             (see the BadRequest details)"
        );
        let fields: Vec<String> = status
            .get_details_bad_request()
            .expect("a BadRequest detail")
            .field_violations
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["npn", "individual.first_name", "individual.ssn"]);
    }

    #[test]
    fn not_found_names_the_resource() {
        let status = Status::from(Error::NotFound("address"));
        assert_eq!(
            (status.code(), status.message()),
            (Code::NotFound, "address not found")
        );
    }

    #[test]
    fn already_exists_out_of_range_and_failed_precondition_keep_their_message() {
        for (error, code) in [
            (
                Error::AlreadyExists("a producer has npn 1".into()),
                Code::AlreadyExists,
            ),
            (
                Error::OutOfRange("the cursor is too old".into()),
                Code::OutOfRange,
            ),
            (
                Error::FailedPrecondition("the endpoint is disabled".into()),
                Code::FailedPrecondition,
            ),
        ] {
            let message = error.to_string();
            let status = Status::from(error);
            assert_eq!((status.code(), status.message()), (code, message.as_str()));
        }
    }

    #[test]
    fn a_stale_etag_is_aborted_and_names_the_current_one() {
        let status = Status::from(Error::Stale {
            current: Version::new(3),
        });
        assert_eq!(status.code(), Code::Aborted);
        assert_eq!(
            status.message(),
            "the resource changed since it was read; its etag is now \"3\""
        );
    }

    #[test]
    fn unavailable_and_internal_hide_their_cause() {
        let status = Status::from(Error::Unavailable("connection refused to 10.0.0.5".into()));
        assert_eq!(status.code(), Code::Unavailable);
        assert!(
            !status.message().contains("10.0.0.5"),
            "{}",
            status.message()
        );
        let status = Status::from(Error::Internal("cipher key k2 missing".into()));
        assert_eq!(
            (status.code(), status.message()),
            (Code::Internal, "internal error")
        );
    }

    #[test]
    fn a_missing_or_invalid_token_is_unauthenticated_and_a_missing_scope_permission_denied() {
        assert_eq!(
            Status::from(AuthError::MissingToken).code(),
            Code::Unauthenticated
        );
        assert_eq!(
            Status::from(AuthError::InvalidToken("expired".into())).code(),
            Code::Unauthenticated
        );
        let denied = Status::from(AuthError::MissingScope(Scope::ProducersPii));
        assert_eq!(denied.code(), Code::PermissionDenied);
        assert!(
            denied.message().contains("producers:pii"),
            "{}",
            denied.message()
        );
    }
}
