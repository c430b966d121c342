//! Schema migrations, embedded in the binary and run by `producer-profile migrate` (and
//! the Helm pre-upgrade hook), never silently by every replica at start.

use diesel::{Connection, PgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// Every migration in `migrations/`, compiled in.
const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Advisory lock key held while migrating, so two `migrate` runs started together apply
/// each migration once. ("pp-migr" in ASCII.)
const MIGRATION_LOCK: i64 = 0x70_70_2d_6d_69_67_72;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Applies every pending migration; returns the names of those applied.
pub fn run_pending(database_url: &str) -> Result<Vec<String>, BoxError> {
    run_pending_on(&mut PgConnection::establish(database_url)?)
}

/// Reverts every applied migration, newest first (used to prove each `down.sql` works).
pub fn revert_all(conn: &mut PgConnection) -> Result<Vec<String>, BoxError> {
    with_lock(conn, |conn| {
        let reverted = conn.revert_all_migrations(MIGRATIONS)?;
        Ok(reverted.iter().map(ToString::to_string).collect())
    })
}

/// Applies every pending migration on an open connection.
pub fn run_pending_on(conn: &mut PgConnection) -> Result<Vec<String>, BoxError> {
    with_lock(conn, |conn| {
        let applied = conn.run_pending_migrations(MIGRATIONS)?;
        Ok(applied.iter().map(ToString::to_string).collect())
    })
}

fn with_lock<T>(
    conn: &mut PgConnection,
    work: impl FnOnce(&mut PgConnection) -> Result<T, BoxError>,
) -> Result<T, BoxError> {
    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).execute(conn)?;
    let result = work(conn);
    diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).execute(conn)?;
    result
}
