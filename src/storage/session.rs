//! A dedicated database connection for a long-lived role that one replica plays at a
//! time (the outbox relay, the webhook intake): an advisory lock held by its session
//! elects the replica, and Postgres releases the lock the moment the connection ends —
//! however the holder died — so another replica takes over.

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, RunQueryDsl};
use secrecy::{ExposeSecret, SecretString};

use crate::domain::Error;

diesel::define_sql_function!(fn pg_try_advisory_lock(key: diesel::sql_types::BigInt) -> diesel::sql_types::Bool);

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
}
