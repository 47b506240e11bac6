//! Integration tests of the Postgres adapter against a real Postgres; every test runs on a
//! database of its own (`TestDatabase`).

mod accounts;
mod assets;
mod holds;
mod idempotency;
mod ledger;
mod ledger_props;
mod migrations;
mod reconcile;
mod tasks;
mod voices;

use indox_accounts::{Account, AccountRepository};
use indox_billing::{NewCharge, PriceBook, Quote, ResponseRenderer, UsageRecord};
use indox_core::{AccountId, Capability, RequestId};
use indox_idempotency::StoredResponse;
use indox_postgres::{PgStore, TestDatabase};
use rust_decimal::Decimal;
use uuid::Uuid;

/// A fresh database and a store on it.
pub async fn setup() -> (TestDatabase, PgStore) {
    let db = TestDatabase::new().await;
    let store = db.store().await.unwrap();
    (db, store)
}

/// An account with `balance` on it.
pub async fn funded(store: &PgStore, balance: Decimal) -> Account {
    let account = store.create_account("acme", None).await.unwrap();
    if balance > Decimal::ZERO {
        store
            .top_up(account.id, balance, "test funds")
            .await
            .unwrap();
    }
    store.get_account(account.id).await.unwrap()
}

/// A TTS quote that charges exactly `charged` (no markup; 0.0005 per second).
pub fn quote_for(charged: Decimal) -> Quote {
    let seconds = indox_billing::quantity_from_seconds(charged / Decimal::new(5, 4));
    let q = Quote::compute(
        &PriceBook::resemble_default(),
        Capability::Tts,
        seconds,
        Decimal::ZERO,
    )
    .unwrap();
    assert_eq!(q.charged, charged, "test quotes must be exact");
    q
}

/// A charge of `charged` under a fresh request id.
pub fn charge(account: AccountId, charged: Decimal) -> NewCharge {
    NewCharge {
        usage_id: Uuid::now_v7(),
        account,
        request_id: RequestId::new(),
        job_id: None,
        quote: quote_for(charged),
        upstream_quantity: None,
        asset_id: None,
    }
}

/// Asserts the account's balance and held amounts equal the sums of its ledger entries.
pub async fn assert_ledger_consistent(store: &PgStore, account: AccountId) -> Account {
    let acct = store.get_account(account).await.unwrap();
    let (balance_sum, held_sum) = store.ledger_sum(account).await.unwrap();
    assert_eq!(
        acct.balance, balance_sum,
        "balance equals the sum of balance entries"
    );
    assert_eq!(acct.held, held_sum, "held equals the sum of hold entries");
    acct
}

/// Renders a usage row as the body a server would store for replays.
pub struct TestRenderer;

impl ResponseRenderer for TestRenderer {
    fn render(&self, usage: &UsageRecord) -> StoredResponse {
        StoredResponse {
            status: 201,
            body: format!("{}:{}", usage.id, usage.charged).into_bytes(),
        }
    }
}

/// A renderer whose output the test can predict from the usage row.
pub fn rendered(usage: &UsageRecord) -> StoredResponse {
    TestRenderer.render(usage)
}

/// Runs a raw statement on the test database (for setting up states the ports never produce).
pub async fn exec(db: &TestDatabase, sql: &str) {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
    diesel::sql_query(sql).execute(&mut conn).await.unwrap();
}

/// Reads one text column `v` from a raw query on the test database.
pub async fn query_text(db: &TestDatabase, sql: &str) -> Vec<String> {
    use diesel::QueryableByName;
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        v: String,
    }
    let mut conn = AsyncPgConnection::establish(&db.url).await.unwrap();
    let rows: Vec<Row> = diesel::sql_query(sql).load(&mut conn).await.unwrap();
    rows.into_iter().map(|r| r.v).collect()
}
