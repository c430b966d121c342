//! The connection pool and the one bridge from async code to diesel.
//!
//! diesel is blocking: every database call runs on tokio's blocking pool through
//! [`Database::run`], never on an async worker thread, and keeps the caller's tracing span.

use std::sync::Arc;

use diesel::PgConnection;
use diesel::RunQueryDsl;
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::r2d2::{ConnectionManager, HandleError, Pool};
use scheduled_thread_pool::ScheduledThreadPool;
use secrecy::ExposeSecret;
use tokio::sync::Notify;
use tracing::Instrument;

use crate::config::DatabaseConfig;
use crate::domain::Error;

type PgPool = Pool<ConnectionManager<PgConnection>>;

/// A unit of work on one connection: a closure that calls storage functions. Callers
/// above storage write the closure and never name the connection's type.
pub trait Work<T>: FnOnce(&mut PgConnection) -> Result<T, Error> + Send + 'static {}

impl<T, F: FnOnce(&mut PgConnection) -> Result<T, Error> + Send + 'static> Work<T> for F {}

/// A pooled Postgres database. (Its idempotent runs, `run_once` and `replayed`, are in
/// `request_keys`, beside the table they use.)
#[derive(Clone)]
pub struct Database {
    pool: PgPool,
    /// One connection of its own for health checks: a replica whose request pool is busy
    /// is loaded, not down, and must not be reported NOT_SERVING for it.
    probe: PgPool,
    /// Signalled after every write this process commits: the relay of the same process
    /// wakes at once, without waiting for its next look at the database's NOTIFY.
    committed: Arc<Notify>,
}

impl Database {
    /// Builds the pool without connecting: the server starts (and reports NOT_SERVING)
    /// while the database is still down, and connects when it comes up.
    pub fn new(config: &DatabaseConfig) -> Self {
        // r2d2 opens and reaps connections on a thread pool of its own, three threads a
        // pool by default; one thread does it for both (connections open on demand).
        let maintenance = ScheduledThreadPool::builder()
            .num_threads(1)
            .thread_name_pattern("db-pool-{}")
            .build();
        let maintenance = Arc::new(maintenance);
        let pool = |size| {
            Pool::builder()
                .max_size(size)
                .thread_pool(maintenance.clone())
                // Connections open on demand and idle ones are kept: nothing to fail at start.
                .min_idle(Some(0))
                // No `SELECT 1` before every checkout (a round trip per call): a connection
                // the database dropped fails on use, is discarded, and `read` runs again.
                .test_on_check_out(false)
                .connection_timeout(config.connect_timeout())
                .error_handler(Box::new(LogConnectionErrors))
                .build_unchecked(ConnectionManager::new(config.url.expose_secret()))
        };
        Self {
            pool: pool(config.pool_max_size),
            probe: pool(1),
            committed: Arc::default(),
        }
    }

    /// Runs `work` with a pooled connection on the blocking thread pool.
    ///
    /// No free connection within the configured timeout (or no database) is
    /// [`Error::Unavailable`]; a panic in `work` is [`Error::Internal`].
    ///
    /// A connection the database dropped since it was pooled (a restart, a failover) fails
    /// the work as [`Error::Unavailable`]: a write may not be run twice blindly. Reads
    /// go through [`Database::read`], which runs them again.
    pub async fn run<T: Send + 'static>(&self, work: impl Work<T>) -> Result<T, Error> {
        Self::run_on(&self.pool, work, |conn, work| {
            let done = work(conn);
            if matches!(done, Err(Error::Unavailable(_))) {
                discard(conn);
            }
            done
        })
        .await
    }

    /// [`Database::run`] for work that is safe to run twice (a read): when it fails as
    /// unavailable (the pooled connection was dropped), it runs once more on a fresh
    /// connection.
    /// `work` is `Fn`, not cloned: the second run costs nothing unless it happens.
    pub async fn read<T: Send + 'static>(
        &self,
        work: impl Fn(&mut PgConnection) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let pool = self.pool.clone();
        Self::run_on(&self.pool, work, move |conn, work| match work(conn) {
            Err(Error::Unavailable(cause)) => {
                tracing::info!(%cause, "a pooled connection failed: reading again on a fresh one");
                discard(conn);
                let mut fresh = pool.get()?;
                let again = work(&mut fresh);
                if matches!(again, Err(Error::Unavailable(_))) {
                    discard(&mut fresh);
                }
                again
            }
            done => done,
        })
        .await
    }

    async fn run_on<T, F>(
        pool: &PgPool,
        work: F,
        on: impl FnOnce(&mut PgConnection, F) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        let pool = pool.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let mut conn = pool.get()?;
            on(&mut conn, work)
        })
        .in_current_span()
        .await
        .map_err(|join_error| Error::Internal(format!("database task failed: {join_error}")))?
    }

    /// Signalled after each write committed through `run_once` (every API write); a wake
    /// may find nothing to publish, and never comes before the commit.
    pub fn committed_writes(&self) -> Arc<Notify> {
        self.committed.clone()
    }

    pub(super) fn note_committed(&self) {
        self.committed.notify_one();
    }

    /// The request pool's connections now, for metrics.
    pub fn pool_state(&self) -> PoolState {
        let state = self.pool.state();
        PoolState {
            connections: state.connections,
            idle: state.idle_connections,
            max: self.pool.max_size(),
        }
    }

    /// `Ok` when the health-check connection can run a trivial query.
    pub async fn ping(&self) -> Result<(), Error> {
        let ping = |conn: &mut PgConnection| {
            diesel::sql_query("SELECT 1").execute(conn)?;
            Ok(())
        };
        Self::run_on(&self.probe, ping, |conn, ping| ping(conn)).await
    }
}

/// Marks a connection that failed as lost (the database dropped it, or the statement's
/// fate is unknown) so the pool closes it instead of handing it out again: without a
/// test before each checkout, a dead connection would otherwise fail call after call.
fn discard(conn: &mut PgConnection) {
    AnsiTransactionManager::transaction_manager_status_mut(conn).set_in_error();
}

/// How many connections the pool holds, how many of them idle, and its size.
#[derive(Debug, Clone, Copy)]
pub struct PoolState {
    /// Connections open, idle or in use.
    pub connections: u32,
    /// Open connections nobody is using.
    pub idle: u32,
    /// The most connections the pool opens.
    pub max: u32,
}

/// Sends r2d2's connection failures to tracing (its default handler uses the `log`
/// crate, which this service does not collect).
#[derive(Debug)]
struct LogConnectionErrors;

impl<E: std::fmt::Display> HandleError<E> for LogConnectionErrors {
    fn handle_error(&self, error: E) {
        tracing::warn!(%error, "database connection failed");
    }
}
