//! Database errors in the service's vocabulary, decided by constraint name and error kind,
//! never by message text. The database's own message goes to the log, not to the caller.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::domain::Error;

/// The unique constraint on (account, NPN).
pub const PRODUCER_NPN_UNIQUE: &str = "producers_account_npn_key";

impl From<DieselError> for Error {
    fn from(error: DieselError) -> Self {
        match &error {
            DieselError::NotFound => Error::NotFound("record"),
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)
                if info.constraint_name() == Some(PRODUCER_NPN_UNIQUE) =>
            {
                Error::AlreadyExists(
                    "a producer with this NPN already exists in the account".into(),
                )
            }
            // diesel reports a connection that went bad (server gone, connection SQLSTATEs)
            // as ClosedConnection: the caller may retry on a fresh one.
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
            | DieselError::BrokenTransactionManager => Error::Unavailable(error.to_string()),
            _ => Error::Internal(error.to_string()),
        }
    }
}

impl From<diesel::r2d2::PoolError> for Error {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        Error::Unavailable(format!("no database connection: {error}"))
    }
}
