//! Migrations and readiness.

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use indox_postgres::{migrate, TestDatabase};

use crate::{query_text, setup};

#[tokio::test]
async fn migrate_is_idempotent_on_an_empty_database() {
    // A scratch empty database next to the test's own (which comes migrated).
    let db = TestDatabase::new().await;
    let scratch = format!("{}_empty", db.name());
    let mut admin = AsyncPgConnection::establish(&db.url).await.unwrap();
    diesel::sql_query(format!("CREATE DATABASE \"{scratch}\""))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = match db.url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{scratch}"),
        None => unreachable!("test URLs have a path"),
    };
    let result = async {
        migrate(&url).await?;
        migrate(&url).await
    }
    .await;
    let tables: Vec<String> = {
        let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            v: String,
        }
        let rows: Vec<Row> = diesel::sql_query(
            "SELECT tablename::text AS v FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
        )
        .load(&mut conn)
        .await
        .unwrap();
        rows.into_iter().map(|r| r.v).collect()
    };
    diesel::sql_query(format!("DROP DATABASE \"{scratch}\" WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    result.unwrap();
    for t in [
        "accounts",
        "api_keys",
        "asset_blobs",
        "assets",
        "clone_recordings",
        "clone_voices",
        "holds",
        "idempotency_keys",
        "jobs",
        "ledger_entries",
        "provider_resemble_usage",
        "rate_limit_overrides",
        "reconciliation_alerts",
        "reconciliation_lines",
        "reconciliation_runs",
        "tasks",
        "top_up_references",
        "voice_design_candidates",
        "voice_designs",
        "webhook_receipts",
    ] {
        assert!(
            tables.iter().any(|x| x == t),
            "missing table {t}: {tables:?}"
        );
    }
}

#[tokio::test]
async fn migrate_on_a_current_database_is_a_no_op_and_ping_answers() {
    let (db, store) = setup().await;
    migrate(&db.url).await.unwrap();
    migrate(&db.url).await.unwrap();
    store.ping().await.unwrap();
    let versions = query_text(
        &db,
        "SELECT version::text AS v FROM __diesel_schema_migrations ORDER BY 1",
    )
    .await;
    let dirs = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .count();
    assert_eq!(versions.len(), dirs, "one row per migration directory");
}

#[tokio::test]
async fn connect_refuses_an_empty_pool() {
    let err = indox_postgres::connect(indox_postgres::PgConfig {
        url: "postgres://x@127.0.0.1/x".into(),
        max_connections: 0,
    })
    .await
    .unwrap_err();
    assert!(matches!(err, indox_postgres::PgError::Config(_)));
}
