//! A dedicated database connection for a long-lived role that one replica plays at a
//! time (the outbox relay, the webhook intake): an advisory lock held by its session
//! elects the replica ([`Leader`]), and Postgres releases the lock the moment the
//! connection ends — however the holder died — so another replica takes over.

use std::future::Future;
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::{Connection, PgConnection, RunQueryDsl};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::watch;

use crate::domain::Error;
use crate::tasks::stopped_within;

diesel::define_sql_function!(
    /// Takes the session-level advisory lock `key` if no other session holds it; true
    /// when this session holds it now. Held until released or the connection ends.
    fn pg_try_advisory_lock(key: diesel::sql_types::BigInt) -> diesel::sql_types::Bool
);

/// The connection, moved to a blocking thread for each database step (diesel blocks).
pub struct Session(Option<PgConnection>);

impl Session {
    /// Connects. Short TCP keepalives make a vanished peer (and the lock its session
    /// held) noticed in well under a minute; a statement never runs longer than 30 s.
    pub async fn connect(url: &SecretString) -> Result<Self, Error> {
        let url = url.expose_secret().to_owned();
        let conn = tokio::task::spawn_blocking(move || PgConnection::establish(&url))
            .await
            .map_err(|e| Error::Unavailable(e.to_string()))?
            .map_err(|e| Error::Unavailable(e.to_string()))?;
        let mut session = Session(Some(conn));
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
            .0
            .take()
            .ok_or_else(|| Error::Unavailable("connection lost".into()))?;
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let result = work(&mut conn);
            (conn, result)
        })
        .await
        .map_err(|e| Error::Internal(format!("database task failed: {e}")))?;
        if result.is_ok() {
            self.0 = Some(conn);
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
/// [`rollback`]. Dropped without either (a cancelled task, a panic), it closes the
/// session's connection: Postgres rolls the transaction back, and the session is lost,
/// as after a failure.
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
        if self.open {
            self.session.0 = None;
        }
    }
}

/// A role one replica plays at a time, run by a [`Leader`].
pub trait Role: Send {
    /// Why a lead ended early; the role is elected again after a pause.
    type Error: From<Error> + Send;

    /// Another replica holds the lock: called after each try for it (`first`: the first
    /// since connecting), before the next wait.
    fn standing_by(
        &mut self,
        session: &mut Session,
        first: bool,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// This replica leads (`true`, once elected) or no longer does (after a lead).
    fn leading(&mut self, leading: bool);

    /// The role's work, on the session holding the lock, until `stop` (`Ok`) or a
    /// failure.
    fn lead(
        &mut self,
        session: &mut Session,
        stop: &mut watch::Receiver<bool>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// A lead (or the election) failed; it starts over after `Leader::retry_after`.
    fn interrupted(&mut self, error: Self::Error);
}

/// Leader election over the session advisory lock `key`: connect, try the lock every
/// `standby_poll` while another replica holds it, lead, and after a failure wait
/// `retry_after` and start over — until asked to stop.
pub struct Leader {
    /// The advisory lock whose holder plays the role.
    pub key: i64,
    /// The database whose session holds the lock.
    pub database_url: SecretString,
    /// How often a standing-by replica tries to take over.
    pub standby_poll: Duration,
    /// How long a failed lead waits before the next election.
    pub retry_after: Duration,
}

impl Leader {
    /// Plays `role` whenever elected, until `stop` turns true.
    pub async fn run<R: Role>(&self, role: &mut R, mut stop: watch::Receiver<bool>) {
        while !*stop.borrow() {
            match self.elect_and_lead(role, &mut stop).await {
                Ok(()) => break,
                Err(error) => role.interrupted(error),
            }
            role.leading(false);
            // A closed stop channel means stop, here as in every other wait.
            if stopped_within(&mut stop, self.retry_after).await {
                break;
            }
        }
        role.leading(false);
    }

    /// Connects, waits to be elected, then leads until stopped (`Ok`) or a failure.
    async fn elect_and_lead<R: Role>(
        &self,
        role: &mut R,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), R::Error> {
        let mut session = Session::connect(&self.database_url).await?;
        let mut first = true;
        while !session.try_lock(self.key).await? {
            role.standing_by(&mut session, first).await?;
            first = false;
            if stopped_within(stop, self.standby_poll).await {
                return Ok(());
            }
        }
        role.leading(true);
        role.lead(&mut session, stop).await
    }
}
