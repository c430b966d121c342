//! The connection pool and the one bridge from async code to diesel.
//!
//! diesel is blocking: every database call runs on tokio's blocking pool through
//! [`Database::run`], never on an async worker thread, and keeps the caller's tracing span.

use diesel::PgConnection;
use diesel::RunQueryDsl;
use diesel::r2d2::{ConnectionManager, HandleError, Pool};
use secrecy::ExposeSecret;
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
}

impl Database {
    /// Builds the pool without connecting: the server starts (and reports NOT_SERVING)
    /// while the database is still down, and connects when it comes up.
    pub fn new(config: &DatabaseConfig) -> Self {
        let pool = |size| {
            Pool::builder()
                .max_size(size)
                // Connections open on demand and idle ones are kept: nothing to fail at start.
                .min_idle(Some(0))
                .connection_timeout(config.connect_timeout())
                .error_handler(Box::new(LogConnectionErrors))
                .build_unchecked(ConnectionManager::new(config.url.expose_secret()))
        };
        Self {
            pool: pool(config.pool_max_size),
            probe: pool(1),
        }
    }

    /// Runs `work` with a pooled connection on the blocking thread pool.
    ///
    /// No free connection within the configured timeout (or no database) is
    /// [`Error::Unavailable`]; a panic in `work` is [`Error::Internal`].
    pub async fn run<T: Send + 'static>(&self, work: impl Work<T>) -> Result<T, Error> {
        Self::run_on(&self.pool, work).await
    }

    async fn run_on<T, F>(pool: &PgPool, work: F) -> Result<T, Error>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        let pool = pool.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let mut conn = pool.get()?;
            work(&mut conn)
        })
        .in_current_span()
        .await
        .map_err(|join_error| Error::Internal(format!("database task failed: {join_error}")))?
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
        Self::run_on(&self.probe, |conn| {
            diesel::sql_query("SELECT 1").execute(conn)?;
            Ok(())
        })
        .await
    }
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
