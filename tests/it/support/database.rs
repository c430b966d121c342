//! A fresh Postgres database per test, copied from a template migrated once per schema
//! version (the template's name carries a digest of `migrations/`).

use std::sync::OnceLock;

use diesel::{Connection, PgConnection, RunQueryDsl};
use ring::digest::{SHA256, digest};

use producer_profile::storage::migrations;

/// The server the tests run against; `make test` starts it.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| {
        "postgres://producer_profile:producer_profile@127.0.0.1:5432/producer_profile".into()
    })
}

/// `url` with its database name replaced by `name`.
pub fn url_for(name: &str) -> String {
    let admin = admin_url();
    let (base, _) = admin
        .rsplit_once('/')
        .expect("a database URL ends with /name");
    format!("{base}/{name}")
}

/// A connection to the test server's administrative database.
pub fn admin() -> PgConnection {
    PgConnection::establish(&admin_url()).unwrap_or_else(|e| {
        panic!("cannot reach the test Postgres ({e}); run the tests with `make test`")
    })
}

fn migrations_digest() -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut paths: Vec<_> = walk(&dir);
    paths.sort();
    let mut bytes = Vec::new();
    for path in paths {
        bytes.extend_from_slice(path.to_string_lossy().as_bytes());
        bytes.extend_from_slice(&std::fs::read(&path).expect("migration readable"));
    }
    digest(&SHA256, &bytes).as_ref()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("migrations dir readable") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

fn database_exists(conn: &mut PgConnection, name: &str) -> bool {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(format!(
        "SELECT count(*) AS n FROM pg_database WHERE datname = '{name}'"
    ))
    .get_result::<Count>(conn)
    .expect("pg_database readable")
    .n > 0
}

/// The migrated template's name, creating it the first time.
fn template() -> &'static str {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let name = format!("pp_template_{}", migrations_digest());
        let mut conn = admin();
        if !database_exists(&mut conn, &name) {
            // Migrate under a temporary name, then rename: another test process never
            // copies a half-migrated template.
            let building = format!("{name}_{}", std::process::id());
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {building}"))
                .execute(&mut conn)
                .expect("drop leftover template");
            diesel::sql_query(format!("CREATE DATABASE {building}"))
                .execute(&mut conn)
                .expect("create template");
            migrations::run_pending(&url_for(&building)).expect("template migrates");
            let renamed = diesel::sql_query(format!("ALTER DATABASE {building} RENAME TO {name}"))
                .execute(&mut conn);
            if renamed.is_err() {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {building}"))
                    .execute(&mut conn);
            }
        }
        name
    })
}

/// A database of its own for one test, dropped with it.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// A copy of the migrated template.
    pub fn migrated() -> Self {
        Self::create(Some(template()))
    }

    /// An empty database (no migrations applied).
    pub fn empty() -> Self {
        Self::create(None)
    }

    fn create(template: Option<&str>) -> Self {
        let name = format!("pp_test_{}", uuid::Uuid::now_v7().simple());
        let statement = match template {
            Some(template) => format!("CREATE DATABASE {name} TEMPLATE {template}"),
            None => format!("CREATE DATABASE {name}"),
        };
        let mut conn = admin();
        // Two copies of one template at the same instant can collide; one retry suffices.
        if diesel::sql_query(&statement).execute(&mut conn).is_err() {
            std::thread::sleep(std::time::Duration::from_millis(200));
            diesel::sql_query(&statement)
                .execute(&mut conn)
                .expect("create test database");
        }
        let url = url_for(&name);
        Self { name, url }
    }

    pub fn connect(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("connect to test database")
    }

    /// A connection holding every producer row's lock in an open transaction: writes to
    /// those producers wait until it is dropped (which rolls the transaction back).
    pub fn lock_producers(&self) -> PgConnection {
        self.lock_rows("producers")
    }

    /// A connection holding the lock of every row of `table` in an open transaction:
    /// writes to those rows wait until it is dropped (which rolls it back).
    pub fn lock_rows(&self, table: &str) -> PgConnection {
        let mut conn = self.connect();
        diesel::sql_query("BEGIN").execute(&mut conn).unwrap();
        diesel::sql_query(format!("SELECT 1 FROM {table} FOR UPDATE"))
            .execute(&mut conn)
            .unwrap();
        conn
    }

    /// A digest of everything a mutation can change: the event log, the producers and
    /// their children, the webhook endpoints and deliveries. Equal digests: nothing was
    /// written in between.
    pub fn footprint(&self) -> String {
        #[derive(diesel::QueryableByName)]
        struct Footprint {
            #[diesel(sql_type = diesel::sql_types::Text)]
            digest: String,
        }
        diesel::sql_query(
            "SELECT concat_ws('|', \
               (SELECT count(*) FROM events), \
               (SELECT md5(coalesce(string_agg(id::text || version || updated_at, ',' ORDER BY id), '')) FROM producers), \
               (SELECT md5(coalesce(string_agg(id::text || updated_at, ',' ORDER BY id), '')) FROM addresses), \
               (SELECT md5(coalesce(string_agg(id::text || updated_at, ',' ORDER BY id), '')) FROM phones), \
               (SELECT md5(coalesce(string_agg(id::text || updated_at, ',' ORDER BY id), '')) FROM bank_accounts), \
               (SELECT md5(coalesce(string_agg(id::text || updated_at, ',' ORDER BY id), '')) FROM insurance_policies), \
               (SELECT md5(coalesce(string_agg(id::text || updated_at || md5(secret_ciphertext), ',' ORDER BY id), '')) FROM webhook_endpoints), \
               (SELECT md5(coalesce(string_agg(id::text || status || attempts || next_attempt_at, ',' ORDER BY id), '')) FROM webhook_deliveries) \
             ) AS digest",
        )
        .get_result::<Footprint>(&mut self.connect())
        .expect("the footprint query runs")
        .digest
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&admin_url()) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn);
        }
    }
}
