//! Every migration's down.sql undoes its up.sql.

use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};

use producer_profile::storage::migrations;

use crate::support::database::TestDb;

#[derive(QueryableByName)]
struct Regclass {
    #[diesel(sql_type = Nullable<Text>)]
    name: Option<String>,
}

fn table_exists(conn: &mut PgConnection, table: &str) -> bool {
    diesel::sql_query(format!("SELECT to_regclass('{table}')::text AS name"))
        .get_result::<Regclass>(conn)
        .unwrap()
        .name
        .is_some()
}

#[test]
fn migrations_apply_revert_and_apply_again() {
    let db = TestDb::empty();
    let applied = migrations::run_pending(&db.url).unwrap();
    assert!(!applied.is_empty());
    let mut conn = db.connect();
    for table in ["producers", "request_keys", "create_requests"] {
        assert!(table_exists(&mut conn, table), "{table}");
    }

    let reverted = migrations::revert_all(&mut conn).unwrap();
    assert_eq!(reverted.len(), applied.len());
    assert!(!table_exists(&mut conn, "producers") && !table_exists(&mut conn, "request_keys"));

    assert_eq!(migrations::run_pending_on(&mut conn).unwrap(), applied);
    assert!(table_exists(&mut conn, "producers"));
    assert!(
        migrations::run_pending(&db.url).unwrap().is_empty(),
        "nothing left to apply"
    );
}
