//! The invariant checker, run once a fault is removed and the system has drained: every
//! success the client saw has exactly one usage row with its amount; no row for a request
//! the client saw fail; every accepted job ended, billed once if completed and never if
//! failed; every balance equals the sum of its ledger entries. Read straight from Postgres
//! (never through a chaos proxy).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use indox_core::AccountId;
use indox_postgres::{PgConfig, PgStore};
use rust_decimal::Decimal;
use serde_json::Value;
use uuid::Uuid;

use crate::load::{Kind, Record};

/// Direct access to the gateway's database.
pub struct Db {
    pub url: String,
    pub pg: PgStore,
}

impl Db {
    pub async fn connect(url: &str) -> Self {
        let pg = indox_postgres::connect(PgConfig {
            url: url.to_owned(),
            max_connections: 2,
        })
        .await
        .unwrap();
        Self {
            url: url.to_owned(),
            pg,
        }
    }

    /// The rows of `select` as JSON objects (through `psql`).
    pub async fn rows(&self, select: &str) -> Vec<Value> {
        let sql = format!("SELECT coalesce(json_agg(t), '[]'::json) FROM ({select}) t");
        let out = tokio::process::Command::new("psql")
            .args([
                self.url.as_str(),
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-c",
                &sql,
            ])
            .output()
            .await
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        match serde_json::from_slice(&out.stdout).expect("psql printed JSON") {
            Value::Array(rows) => rows,
            other => panic!("expected a JSON array, got {other}"),
        }
    }

    /// One number.
    pub async fn count(&self, select: &str) -> i64 {
        let rows = self
            .rows(&format!("SELECT count(*) AS n FROM ({select}) c"))
            .await;
        rows[0]["n"].as_i64().unwrap()
    }

    /// Jobs not yet completed or failed.
    pub async fn open_jobs(&self) -> i64 {
        self.count("SELECT 1 FROM jobs WHERE status NOT IN ('completed', 'failed')")
            .await
    }

    /// Waits (up to `bound`) until every job ended; returns how long it took, `None` if not.
    pub async fn drain(&self, bound: Duration) -> Option<f64> {
        let start = Instant::now();
        while start.elapsed() < bound {
            if self.open_jobs().await == 0 {
                return Some(start.elapsed().as_secs_f64());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }
}

/// Polls `GET {root}/readyz` until it answers 200; the seconds it took, `None` past `bound`.
pub async fn wait_ready(root: &str, bound: Duration) -> Option<f64> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let start = Instant::now();
    while start.elapsed() < bound {
        if let Ok(r) = client.get(format!("{root}/readyz")).send().await {
            if r.status() == 200 {
                return Some(start.elapsed().as_secs_f64());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// One line of the table.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub fault: String,
    pub requests: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub unanswered: usize,
    /// Rows (usage rows or jobs) for requests whose answer the client never got.
    pub unacked: usize,
    pub jobs_accepted: usize,
    pub jobs_completed: usize,
    pub jobs_failed: usize,
    pub lost: usize,
    pub duplicated: usize,
    /// Accounts whose balance or held differs from the sum of their ledger entries.
    pub ledger_mismatches: usize,
    /// Seconds until `/readyz` answered 200 once the fault was removed.
    pub recovery_secs: Option<f64>,
    /// Seconds until every job had ended once the load stopped.
    pub drain_secs: Option<f64>,
    /// Each violation, in words.
    pub problems: Vec<String>,
    /// What this fault is expected to show beyond the invariants, as checked.
    pub notes: Vec<String>,
}

impl Row {
    pub fn passed(&self) -> bool {
        self.problems.is_empty() && self.lost == 0 && self.duplicated == 0
    }
}

fn uuid(v: &Value) -> Option<Uuid> {
    v.as_str().and_then(|s| s.parse().ok())
}

fn decimal(v: &Value) -> Option<Decimal> {
    v.as_str().and_then(|s| s.parse().ok())
}

/// Checks the invariants for the load of `account` (which started with `initial` USD).
pub async fn check(
    fault: &str,
    db: &Db,
    account: AccountId,
    initial: Decimal,
    records: &[Record],
) -> Row {
    let mut row = Row {
        fault: fault.to_owned(),
        requests: records.len(),
        succeeded: records.iter().filter(|r| r.succeeded()).count(),
        failed: records.iter().filter(|r| r.failed()).count(),
        unanswered: records.iter().filter(|r| r.unanswered()).count(),
        ..Row::default()
    };
    let acct = account.0;
    let usage = db
        .rows(&format!(
            "SELECT id, request_id, job_id, charged::text AS charged FROM provider_resemble_usage \
             WHERE account_id = '{acct}'"
        ))
        .await;
    let jobs = db
        .rows(&format!(
            "SELECT id, status, request->>'client_ref' AS client_ref, usage_id FROM jobs \
             WHERE account_id = '{acct}'"
        ))
        .await;

    // --- Syntheses: rows without a job.
    let tts_rows: Vec<&Value> = usage.iter().filter(|u| u["job_id"].is_null()).collect();
    let mut by_id: HashMap<Uuid, &Value> = HashMap::new();
    let mut per_request: HashMap<String, usize> = HashMap::new();
    for u in &tts_rows {
        by_id.insert(uuid(&u["id"]).unwrap(), u);
        *per_request
            .entry(u["request_id"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    for (request, n) in &per_request {
        if *n > 1 {
            row.duplicated += n - 1;
            row.problems
                .push(format!("request {request} has {n} usage rows"));
        }
    }
    let mut acknowledged: HashSet<Uuid> = HashSet::new();
    let mut failed_requests: HashSet<&str> = HashSet::new();
    for r in records.iter().filter(|r| r.kind == Kind::Tts) {
        if r.succeeded() {
            let id = r.usage_id.unwrap();
            acknowledged.insert(id);
            match by_id.get(&id) {
                None => {
                    row.lost += 1;
                    row.problems.push(format!(
                        "a 200 (request {:?}) has no usage row {id}",
                        r.request_id
                    ));
                }
                Some(u) => {
                    if decimal(&u["charged"]) != r.charged {
                        row.lost += 1;
                        row.problems.push(format!(
                            "usage row {id} charged {} but the answer said {:?}",
                            u["charged"], r.charged
                        ));
                    }
                    if u["request_id"].as_str() != r.request_id.as_deref() {
                        row.problems.push(format!(
                            "usage row {id} belongs to request {} but was answered for {:?}",
                            u["request_id"], r.request_id
                        ));
                    }
                }
            }
        } else if r.failed() {
            if let Some(rid) = r.request_id.as_deref() {
                failed_requests.insert(rid);
            } else {
                row.problems
                    .push(format!("a failed answer without X-Request-Id: {r:?}"));
            }
        }
    }
    let mut unacked_tts = 0;
    for u in &tts_rows {
        let id = uuid(&u["id"]).unwrap();
        if acknowledged.contains(&id) {
            continue;
        }
        let rid = u["request_id"].as_str().unwrap_or_default();
        if failed_requests.contains(rid) {
            row.duplicated += 1;
            row.problems.push(format!(
                "usage row {id} charges request {rid}, which the client saw fail"
            ));
        } else {
            unacked_tts += 1;
        }
    }
    let unanswered_tts = records
        .iter()
        .filter(|r| r.kind == Kind::Tts && r.unanswered())
        .count();
    if unacked_tts > unanswered_tts {
        let excess = unacked_tts - unanswered_tts;
        row.duplicated += excess;
        row.problems.push(format!(
            "{unacked_tts} synthesis rows match no answer, but only {unanswered_tts} requests went unanswered"
        ));
    }
    row.unacked += unacked_tts;

    // --- Jobs.
    let stt: HashMap<&str, &Record> = records
        .iter()
        .filter(|r| r.kind == Kind::Stt)
        .map(|r| (r.client_ref.as_str(), r))
        .collect();
    row.jobs_accepted = stt.values().filter(|r| r.succeeded()).count();
    let mut job_ids: HashSet<Uuid> = HashSet::new();
    let mut refs_seen: HashMap<&str, usize> = HashMap::new();
    for j in &jobs {
        let id = uuid(&j["id"]).unwrap();
        job_ids.insert(id);
        let status = j["status"].as_str().unwrap_or_default();
        let client_ref = j["client_ref"].as_str().unwrap_or_default();
        *refs_seen.entry(client_ref).or_default() += 1;
        match stt.get(client_ref) {
            None => row.problems.push(format!(
                "job {id} matches no request (client_ref {client_ref:?})"
            )),
            Some(r) if r.succeeded() && r.job_id != Some(id) => {
                row.duplicated += 1;
                row.problems.push(format!(
                    "job {id} was made for {client_ref}, whose 202 named {:?}",
                    r.job_id
                ));
            }
            Some(r) if r.failed() => {
                row.duplicated += 1;
                row.problems.push(format!(
                    "job {id} exists for {client_ref}, which the client saw fail ({:?} {:?})",
                    r.status, r.error
                ));
            }
            Some(r) if r.unanswered() => row.unacked += 1,
            Some(_) => {}
        }
        let rows: Vec<&Value> = usage
            .iter()
            .filter(|u| uuid(&u["job_id"]) == Some(id))
            .collect();
        match status {
            "completed" => {
                row.jobs_completed += 1;
                if rows.is_empty() {
                    row.lost += 1;
                    row.problems
                        .push(format!("completed job {id} has no usage row"));
                } else if rows.len() > 1 {
                    row.duplicated += rows.len() - 1;
                    row.problems
                        .push(format!("job {id} has {} usage rows", rows.len()));
                } else if uuid(&rows[0]["id"]) != uuid(&j["usage_id"]) {
                    row.problems
                        .push(format!("job {id} names another usage row than its own"));
                }
            }
            "failed" => {
                row.jobs_failed += 1;
                if !rows.is_empty() {
                    row.duplicated += rows.len();
                    row.problems
                        .push(format!("failed job {id} has {} usage rows", rows.len()));
                }
            }
            other => {
                row.lost += 1;
                row.problems
                    .push(format!("job {id} never ended (still {other})"));
            }
        }
    }
    for (client_ref, n) in refs_seen {
        if n > 1 {
            row.duplicated += n - 1;
            row.problems
                .push(format!("request {client_ref} made {n} jobs"));
        }
    }
    for r in stt.values().filter(|r| r.succeeded()) {
        if !job_ids.contains(&r.job_id.unwrap()) {
            row.lost += 1;
            row.problems.push(format!(
                "accepted job {:?} is not in the database",
                r.job_id
            ));
        }
    }

    // --- Money: every account's balance and held against its ledger; the load account's
    // balance against its starting balance and its usage rows.
    let accounts = db
        .rows("SELECT id, balance::text AS balance, held::text AS held FROM accounts")
        .await;
    for a in &accounts {
        let id = AccountId(uuid(&a["id"]).unwrap());
        let (balance_sum, held_sum) = db.pg.ledger_sum(id).await.unwrap();
        let (balance, held) = (
            decimal(&a["balance"]).unwrap(),
            decimal(&a["held"]).unwrap(),
        );
        if (balance_sum, held_sum) != (balance, held) {
            row.ledger_mismatches += 1;
            row.problems.push(format!(
                "account {}: balance {balance} held {held}, ledger {balance_sum} / {held_sum}",
                id.0
            ));
        }
        if id == account {
            let charged: Decimal = usage.iter().filter_map(|u| decimal(&u["charged"])).sum();
            if balance != initial - charged {
                row.problems.push(format!(
                    "the load account holds {balance}, but {initial} minus its {} rows is {}",
                    usage.len(),
                    initial - charged
                ));
            }
            if held != Decimal::ZERO {
                row.problems.push(format!(
                    "the load account still holds {held} after every job ended"
                ));
            }
        }
    }
    row
}

/// The table, as Markdown.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| fault | requests | ok | failed | no answer | unacked rows | jobs done/failed | lost | duplicated | ledger | recovery s | drain s | verdict |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|\n",
    );
    let secs = |s: Option<f64>| s.map_or_else(|| "never".to_owned(), |s| format!("{s:.2}"));
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {}/{} | {} | {} | {} | {} | {} | {} |\n",
            r.fault,
            r.requests,
            r.succeeded,
            r.failed,
            r.unanswered,
            r.unacked,
            r.jobs_completed,
            r.jobs_failed,
            r.lost,
            r.duplicated,
            if r.ledger_mismatches == 0 {
                "ok".to_owned()
            } else {
                format!("{} off", r.ledger_mismatches)
            },
            secs(r.recovery_secs),
            secs(r.drain_secs),
            if r.passed() { "pass" } else { "FAIL" },
        ));
    }
    out
}

/// Replays every synthesis sent with an `Idempotency-Key` that succeeded or went unanswered:
/// a success must come back as the stored answer (same usage id and amount) and add no row;
/// an unanswered one must either come back as the stored answer of a row that exists (its
/// commit happened) or run afresh (it did not), and never both.
pub async fn check_replays(
    db: &Db,
    account: AccountId,
    records: &[Record],
    target: &crate::load::Target,
    row: &mut Row,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let count = format!(
        "SELECT 1 FROM provider_resemble_usage WHERE account_id = '{}' AND job_id IS NULL",
        account.0
    );
    let before = db.count(&count).await;
    let (mut stored, mut fresh, mut in_flight) = (0, 0, 0);
    let keyed = records.iter().filter(|r| {
        r.kind == Kind::Tts && r.idempotency_key.is_some() && (r.succeeded() || r.unanswered())
    });
    for r in keyed {
        let again = crate::load::replay(&client, target, r).await;
        if r.succeeded() {
            if again.succeeded()
                && again.replayed
                && again.usage_id == r.usage_id
                && again.charged == r.charged
            {
                stored += 1;
            } else {
                if again.succeeded() && !again.replayed {
                    row.duplicated += 1;
                }
                row.problems.push(format!(
                    "replaying {} (answered {:?}) gave {:?} replayed={} usage {:?}",
                    r.client_ref, r.usage_id, again.status, again.replayed, again.usage_id
                ));
            }
            continue;
        }
        match again.status {
            Some(200) if again.replayed => {
                let id = again.usage_id.unwrap();
                let found = db
                    .count(&format!(
                        "SELECT 1 FROM provider_resemble_usage WHERE id = '{id}' \
                         AND charged = '{}'",
                        again.charged.unwrap()
                    ))
                    .await;
                if found == 1 {
                    stored += 1;
                } else {
                    row.problems.push(format!(
                        "the stored answer of {} names usage row {id}, which does not exist",
                        r.client_ref
                    ));
                }
            }
            Some(200) => fresh += 1,
            // The key of a request whose process died stays in flight until the lock timeout.
            Some(409) => in_flight += 1,
            other => row.problems.push(format!(
                "replaying unanswered {} gave {other:?} {:?}",
                r.client_ref, again.error
            )),
        }
    }
    let after = db.count(&count).await;
    if after != before + fresh {
        row.duplicated += usize::try_from((after - before - fresh).max(0)).unwrap_or(0);
        row.problems.push(format!(
            "replays added {} usage rows, but only {fresh} ran afresh",
            after - before
        ));
    }
    row.notes.push(format!(
        "Idempotency-Key replays: {stored} stored answers, {fresh} unanswered requests ran afresh, \
         {in_flight} still in flight"
    ));
}
