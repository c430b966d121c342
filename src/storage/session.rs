//! A dedicated database connection for a long-lived role that one replica plays at a
//! time (the outbox relay, the webhook intake): an advisory lock held by its session
//! elects the replica, and Postgres releases the lock the moment the connection ends —
//! however the holder died — so another replica takes over.

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::{Connection, PgConnection, RunQueryDsl};
use secrecy::{ExposeSecret, SecretString};

use crate::domain::Error;

diesel::define_sql_function!(fn pg_try_advisory_lock(key: diesel::sql_types::BigInt) -> diesel::sql_types::Bool);

/// The connection, moved to a blocking thread for each database step (diesel blocks).
pub struct Session {
    conn: Option<PgConnection>,
    /// A [`ClaimedBatch`] was dropped unsettled: its transaction is rolled back before
    /// anything else runs.
    abandoned: bool,
}

impl Session {
    /// Connects. Short TCP keepalives make a vanished peer (and the lock its session
    /// held) noticed in well under a minute; a statement never runs longer than 30 s.
    pub async fn connect(url: &SecretString) -> Result<Self, Error> {
        let url = url.expose_secret().to_owned();
        let conn = tokio::task::spawn_blocking(move || PgConnection::establish(&url))
            .await
            .map_err(|e| Error::Unavailable(e.to_string()))?
            .map_err(|e| Error::Unavailable(e.to_string()))?;
        let mut session = Session {
            conn: Some(conn),
            abandoned: false,
        };
        session
            .run(|conn| {
                conn.batch_execute(
                    "SET tcp_keepalives_idle = 15; SET tcp_keepalives_interval = 5; \
                     SET tcp_keepalives_count = 3; SET tcp_user_timeout = 30000; \
                     SET statement_timeout = '30s'",
                )?;
                Ok(())
            })
            .await?;
        Ok(session)
    }

    /// Runs `work` on the connection. After a failure the connection is dropped (its
    /// state is unknown): every later call fails until the role reconnects.
    pub async fn run<T: Send + 'static>(
        &mut self,
        work: impl FnOnce(&mut PgConnection) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let mut conn = self
            .conn
            .take()
            .ok_or_else(|| Error::Unavailable("connection lost".into()))?;
        let abandoned = std::mem::take(&mut self.abandoned);
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let result = match abandoned {
                true => {
                    AnsiTransactionManager::rollback_transaction(&mut conn).map_err(Error::from)
                }
                false => Ok(()),
            }
            .and_then(|()| work(&mut conn));
            (conn, result)
        })
        .await
        .map_err(|e| Error::Internal(format!("database task failed: {e}")))?;
        if result.is_ok() {
            self.conn = Some(conn);
        }
        result
    }

    /// Takes the session-level advisory lock `key` if it is free: whether this session
    /// holds it now.
    pub async fn try_lock(&mut self, key: i64) -> Result<bool, Error> {
        self.run(move |conn| Ok(diesel::select(pg_try_advisory_lock(key)).get_result(conn)?))
            .await
    }

    /// Opens a transaction and runs `claim` in it: the rows it locks stay claimed until
    /// the batch is committed (after `settle` ran on them, e.g. to stamp them done) or
    /// rolled back. A failed claim loses the connection (see [`Session::run`]), and
    /// Postgres rolls its transaction back.
    pub async fn claim<T: Send + 'static>(
        &mut self,
        claim: impl FnOnce(&mut PgConnection) -> Result<Vec<T>, Error> + Send + 'static,
        settle: fn(&mut PgConnection, &[T]) -> Result<(), Error>,
    ) -> Result<ClaimedBatch<'_, T>, Error> {
        let rows = self
            .run(move |conn| {
                AnsiTransactionManager::begin_transaction(conn)?;
                claim(conn)
            })
            .await?;
        Ok(ClaimedBatch {
            session: self,
            rows,
            settle,
            open: true,
        })
    }
}

/// Rows claimed in a transaction that stays open on the session until [`commit`] or
/// [`rollback`]. Dropped without either, the transaction is rolled back before the
/// session runs anything else (or when it closes): the rows stay locked until then.
///
/// [`commit`]: ClaimedBatch::commit
/// [`rollback`]: ClaimedBatch::rollback
#[must_use = "a claimed batch holds its rows locked until it is committed or rolled back"]
pub struct ClaimedBatch<'s, T> {
    session: &'s mut Session,
    rows: Vec<T>,
    settle: fn(&mut PgConnection, &[T]) -> Result<(), Error>,
    open: bool,
}

impl<T: Send + 'static> ClaimedBatch<'_, T> {
    /// The claimed rows.
    pub fn rows(&self) -> &[T] {
        &self.rows
    }

    /// Settles the rows and commits, in one step; returns them.
    pub async fn commit(mut self) -> Result<Vec<T>, Error> {
        self.open = false;
        let (rows, settle) = (std::mem::take(&mut self.rows), self.settle);
        self.session
            .run(move |conn| {
                if !rows.is_empty() {
                    settle(conn, &rows)?;
                }
                AnsiTransactionManager::commit_transaction(conn)?;
                Ok(rows)
            })
            .await
    }

    /// Releases the rows unchanged.
    pub async fn rollback(mut self) -> Result<(), Error> {
        self.open = false;
        self.session
            .run(|conn| Ok(AnsiTransactionManager::rollback_transaction(conn)?))
            .await
    }
}

impl<T> Drop for ClaimedBatch<'_, T> {
    fn drop(&mut self) {
        self.session.abandoned |= self.open;
    }
}
