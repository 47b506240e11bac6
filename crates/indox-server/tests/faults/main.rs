//! The fault suite (`cargo xtask faults`; also part of `cargo nextest run --workspace`):
//! real load through a running gateway while one fault at a time is injected (Postgres cut,
//! its answers lost, or stopped; Redis stopped; the S3 server stopped; the upstream slow,
//! failing with 5xx or 429, or dropping webhooks; the gateway process killed with SIGKILL and
//! restarted), then, once the fault is removed and the jobs drained, the billing invariants
//! are checked and a table of faults × requests × lost × duplicated × recovery is printed
//! (and written to `target/faults-table.md`). See docs/faults.md.

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

mod chaos;
mod check;
mod load;
mod process;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indox_accounts::{AccountRepository, Authenticator};
use indox_postgres::TestDatabase;
use indox_retention::ObjectStore;
use indox_s3::{LocalS3, S3Store};
use rust_decimal::Decimal;
use serde_json::json;

use chaos::ChaosProxy;
use check::{wait_ready, Db, Row};
use helpers::{spawn_app_with, Options, TestApp, User};
use load::{Kind, Load, Mix, Phase, Record, Target};

/// Readiness must come back within this once a fault is removed.
const READY_BOUND: Duration = Duration::from_secs(30);
/// Every accepted job must have ended within this once the load stopped.
const DRAIN_BOUND: Duration = Duration::from_secs(60);
/// Mirrors kept while the object store was down must be uploaded within this once it is back.
const MIRROR_BOUND: Duration = Duration::from_secs(30);
/// How long each fault lasts.
const FAULT: Duration = Duration::from_secs(3);
/// Load before the fault, and after readiness came back.
const BEFORE: Duration = Duration::from_secs(1);
const AFTER: Duration = Duration::from_millis(1500);
/// What the load account starts with.
const BALANCE: &str = "1000.00";
const REDIS_URL: &str = "redis://127.0.0.1:6379";
/// The task lease of the gateways under test (120 s by default): a task claimed by a process
/// that died, or whose claim's answer was lost, runs again after it.
const TASK_LEASE_SECS: i64 = 10;

/// The faults, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Every Postgres connection cut (three times) while requests wait on a 200 ms upstream,
    /// so their commits meet dead connections.
    PostgresCut,
    /// Postgres' answers are dropped and the connection cut (three 300 ms windows while
    /// requests wait on a 200 ms upstream): commits that were done but never acknowledged.
    PostgresAnswerLost,
    /// Postgres unreachable (connections cut, new ones refused) for 3 s, then back.
    PostgresStopped,
    /// Redis unreachable for 3 s.
    RedisStopped,
    /// Redis answers 300 ms late (past the limiter's 200 ms timeout) for 3 s.
    RedisSlow,
    /// The S3 server unreachable for 3 s.
    S3Stopped,
    /// Upstream answers 900 ms and 1.1 s late in turn (300 ms each), with a 1 s timeout.
    UpstreamSlow,
    /// Half the upstream answers are 500/503.
    Upstream5xx,
    /// Half the upstream answers are 429.
    Upstream429,
    /// The upstream sends no job webhooks (jobs finish by polling).
    WebhooksDropped,
    /// The gateway process killed with SIGKILL mid-load (twice) and started again.
    GatewaySigkill,
}

const FAULTS: [Fault; 11] = [
    Fault::PostgresCut,
    Fault::PostgresAnswerLost,
    Fault::PostgresStopped,
    Fault::RedisStopped,
    Fault::RedisSlow,
    Fault::S3Stopped,
    Fault::UpstreamSlow,
    Fault::Upstream5xx,
    Fault::Upstream429,
    Fault::WebhooksDropped,
    Fault::GatewaySigkill,
];

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::PostgresCut => "postgres-cut",
            Fault::PostgresAnswerLost => "postgres-answer-lost",
            Fault::PostgresStopped => "postgres-stopped",
            Fault::RedisStopped => "redis-stopped",
            Fault::RedisSlow => "redis-slow",
            Fault::S3Stopped => "s3-stopped",
            Fault::UpstreamSlow => "upstream-slow",
            Fault::Upstream5xx => "upstream-5xx",
            Fault::Upstream429 => "upstream-429",
            Fault::WebhooksDropped => "webhooks-dropped",
            Fault::GatewaySigkill => "gateway-sigkill",
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_suite() {
    let started = Instant::now();
    if let Ok(filter) = std::env::var("RUST_LOG") {
        // The in-process gateways' logs, when asked for (e.g. RUST_LOG=indox_postgres=info).
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
    // `INDOX_FAULTS=postgres-cut,s3-stopped` runs only those.
    let only: Option<Vec<String>> = std::env::var("INDOX_FAULTS")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect());
    for name in only.iter().flatten() {
        assert!(
            FAULTS.iter().any(|f| f.name() == name),
            "INDOX_FAULTS names an unknown fault `{name}`; the faults are: {}",
            FAULTS.map(Fault::name).join(", ")
        );
    }
    let mut rows = Vec::new();
    for fault in FAULTS {
        if only
            .as_ref()
            .is_some_and(|o| !o.iter().any(|n| n == fault.name()))
        {
            continue;
        }
        let t = Instant::now();
        // Its own task: a panic becomes a failed row instead of ending the suite.
        let row = match tokio::spawn(run(fault)).await {
            Ok(row) => row,
            Err(e) => Row {
                fault: fault.name().to_owned(),
                problems: vec![format!("the scenario panicked: {e}")],
                ..Row::default()
            },
        };
        eprintln!(
            "fault {} done in {:.1} s: {}",
            fault.name(),
            t.elapsed().as_secs_f64(),
            if row.passed() { "pass" } else { "FAIL" }
        );
        rows.push(row);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut report = check::table(&rows);
    report.push_str(&format!(
        "\nTotal {elapsed:.0} s on {} cores. Bounds: readiness {} s, drain {} s.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        READY_BOUND.as_secs(),
        DRAIN_BOUND.as_secs(),
    ));
    for r in &rows {
        for n in &r.notes {
            report.push_str(&format!("\n- {}: {n}", r.fault));
        }
    }
    let failures: Vec<String> = rows
        .iter()
        .flat_map(|r| r.problems.iter().map(move |p| format!("{}: {p}", r.fault)))
        .collect();
    if !failures.is_empty() {
        report.push_str("\n\nViolations:\n");
        for f in &failures {
            report.push_str(&format!("- {f}\n"));
        }
    }
    report.push('\n');
    #[expect(clippy::print_stdout, reason = "the suite's output is its table")]
    {
        println!("\n{report}");
    }
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    let _ = std::fs::write(target.join("faults-table.md"), &report);
    assert!(
        rows.iter().all(Row::passed),
        "the fault suite found violations:\n{report}"
    );
}

async fn run(fault: Fault) -> Row {
    match fault {
        Fault::GatewaySigkill => sigkill_restart().await,
        other => in_process(other).await,
    }
}

/// A gateway in this process behind three chaos proxies (Postgres, Redis, S3).
struct Env {
    app: TestApp,
    db: Db,
    pg: ChaosProxy,
    redis: ChaosProxy,
    s3: ChaosProxy,
    user: User,
    target: Target,
    _database: TestDatabase,
}

async fn env(mut opts: Options) -> Env {
    let database = TestDatabase::new().await;
    let pg = ChaosProxy::in_front_of_postgres(&database.url).await;
    let redis = ChaosProxy::in_front_of(REDIS_URL).await;
    let s3_server = LocalS3::start().await.expect("s3s-fs starts");
    let s3 = ChaosProxy::in_front_of(&s3_server.endpoint).await;
    opts.database_url = Some(pg.rewrite(&database.url));
    opts.redis_url = redis.rewrite(REDIS_URL);
    opts.s3_endpoint = Some(s3.rewrite(&s3_server.endpoint));
    opts.s3_server = Some(s3_server);
    opts.mirror_worker = true;
    let app = spawn_app_with(opts).await;
    let db = Db::connect(&database.url).await;
    let setup = app.user("5.00").await;
    let user = app.user(BALANCE).await;
    let store = app.store();
    let stt_url = input_audio(&app.client, &app.base, &setup.key, &db, &store).await;
    let target = Target {
        base: app.base.clone(),
        key: user.key.clone(),
        stt_url,
    };
    Env {
        app,
        db,
        pg,
        redis,
        s3,
        user,
        target,
        _database: database,
    }
}

/// Synthesizes the jobs' input through the gateway, waits until it is stored, and presigns
/// it on the S3 server directly (so the input stays readable while the gateway's path to the
/// store is cut).
async fn input_audio(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    db: &Db,
    store: &S3Store,
) -> String {
    let r = client
        .post(format!("{base}/resemble/tts/synthesize"))
        .bearer_auth(key)
        .json(
            &json!({"voice_uuid": "55592656", "text": "The fault suite listens.",
                      "output_format": "wav", "sample_rate": 8000}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the setup synthesis");
    let body: serde_json::Value = r.json().await.unwrap();
    let asset = body["asset_id"].as_str().unwrap().to_owned();
    let start = Instant::now();
    let object_key = loop {
        let rows = db
            .rows(&format!(
                "SELECT object_key FROM assets WHERE id = '{asset}' AND mirrored_at IS NOT NULL"
            ))
            .await;
        if let Some(k) = rows.first().and_then(|r| r["object_key"].as_str()) {
            break k.to_owned();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the input is stored"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    store
        .presign_get(&object_key, chrono::Duration::hours(1))
        .await
        .unwrap()
}

/// Requests sent once readiness had been back for a moment: they must all succeed.
fn after_recovery_failures(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .filter(|r| r.phase == Phase::After && !r.succeeded())
        .map(|r| format!("{:?} {:?} {:?}", r.kind, r.status, r.error))
        .collect()
}

fn during(records: &[Record], kind: Kind) -> impl Iterator<Item = &Record> {
    records
        .iter()
        .filter(move |r| r.phase == Phase::During && r.kind == kind)
}

async fn in_process(fault: Fault) -> Row {
    let mut opts = Options {
        // A task whose claim was answered but the answer lost runs again after this.
        task_lease: chrono::Duration::seconds(TASK_LEASE_SECS),
        ..Options::default()
    };
    match fault {
        Fault::UpstreamSlow => opts.resemble_timeout = Duration::from_secs(1),
        // Slow polling, so a job that finished early did so by its webhook.
        Fault::WebhooksDropped => opts.job_poll_interval = chrono::Duration::seconds(1),
        _ => {}
    }
    let env = env(opts).await;
    let app = &env.app;
    if matches!(fault, Fault::PostgresCut | Fault::PostgresAnswerLost) {
        // Requests wait upstream, so the cuts land between the upstream answer and the commit.
        app.sim_faults(json!({"latency_ms": 200})).await;
    }
    let load = Load::start(env.target.clone(), Mix::default());
    tokio::time::sleep(BEFORE).await;
    load.set_phase(Phase::During);
    let mut notes = Vec::new();
    match fault {
        Fault::PostgresCut => {
            for _ in 0..3 {
                env.pg.cut();
                tokio::time::sleep(FAULT / 3).await;
            }
        }
        Fault::PostgresAnswerLost => {
            for _ in 0..3 {
                env.pg.drop_replies(true);
                tokio::time::sleep(Duration::from_millis(300)).await;
                env.pg.drop_replies(false);
                tokio::time::sleep(FAULT / 3 - Duration::from_millis(300)).await;
            }
            notes.push(format!(
                "{} Postgres answers dropped",
                env.pg.dropped_replies()
            ));
        }
        Fault::PostgresStopped => {
            env.pg.stop();
            tokio::time::sleep(FAULT).await;
            env.pg.restart().await;
        }
        Fault::RedisStopped => {
            env.redis.stop();
            tokio::time::sleep(FAULT).await;
            env.redis.restart().await;
        }
        Fault::RedisSlow => {
            env.redis.set_latency(Duration::from_millis(300));
            tokio::time::sleep(FAULT).await;
            env.redis.set_latency(Duration::ZERO);
        }
        Fault::S3Stopped => {
            env.s3.stop();
            tokio::time::sleep(FAULT).await;
            env.s3.restart().await;
        }
        Fault::UpstreamSlow => {
            // Just under and just over the 1 s timeout, in turn.
            let until = Instant::now() + FAULT;
            let mut slow = false;
            while Instant::now() < until {
                slow = !slow;
                let ms = if slow { 1_100 } else { 900 };
                app.sim_faults(json!({"latency_ms": ms})).await;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            app.sim_faults(json!({"latency_ms": 0})).await;
        }
        Fault::Upstream5xx => {
            app.sim_faults(json!({"error_rate_5xx": 0.5})).await;
            tokio::time::sleep(FAULT).await;
            app.sim_faults(json!({"error_rate_5xx": 0.0})).await;
        }
        Fault::Upstream429 => {
            app.sim_faults(json!({"error_rate_429": 0.5})).await;
            tokio::time::sleep(FAULT).await;
            app.sim_faults(json!({"error_rate_429": 0.0})).await;
        }
        Fault::WebhooksDropped => {
            app.sim_faults(json!({"drop_callbacks": true})).await;
            tokio::time::sleep(FAULT).await;
            app.sim_faults(json!({"drop_callbacks": false})).await;
        }
        Fault::GatewaySigkill => unreachable!("runs as a process"),
    }
    if matches!(fault, Fault::PostgresCut | Fault::PostgresAnswerLost) {
        app.sim_faults(json!({"latency_ms": 0})).await;
    }
    let recovery = wait_ready(&app.root, READY_BOUND).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    load.set_phase(Phase::After);
    tokio::time::sleep(AFTER).await;
    let records = load.finish().await;
    let drain = env.db.drain(DRAIN_BOUND).await;
    let mut row = check::check(
        fault.name(),
        &env.db,
        env.user.account,
        BALANCE.parse().unwrap(),
        &records,
    )
    .await;
    row.recovery_secs = recovery;
    row.drain_secs = drain;
    row.notes = notes;
    if recovery.is_none() {
        row.problems.push(format!(
            "/readyz did not answer 200 within {} s of the fault's removal",
            READY_BOUND.as_secs()
        ));
    }
    if drain.is_none() {
        row.problems.push(format!(
            "jobs were still open {} s after the load stopped",
            DRAIN_BOUND.as_secs()
        ));
    }
    let late = after_recovery_failures(&records);
    if !late.is_empty() {
        row.problems.push(format!(
            "{} requests sent after recovery failed: {late:?}",
            late.len()
        ));
    }
    expectations(fault, &env, &records, &mut row).await;
    check::check_replays(&env.db, env.user.account, &records, &env.target, &mut row).await;
    // Stop the gateway and its simulator before its database is dropped.
    let Env {
        app,
        _database: database,
        ..
    } = env;
    app.kill().await;
    app.sim.stop().await;
    drop(database);
    row
}

/// What each fault must show beyond the invariants.
async fn expectations(fault: Fault, env: &Env, records: &[Record], row: &mut Row) {
    let failed_during = |kind| during(records, kind).filter(|r| !r.succeeded()).count();
    let sent_during = |kind| during(records, kind).count();
    match fault {
        Fault::RedisStopped | Fault::RedisSlow | Fault::WebhooksDropped => {
            let (tts, stt) = (failed_during(Kind::Tts), failed_during(Kind::Stt));
            row.notes.push(format!(
                "{}/{} syntheses and {}/{} job submissions succeeded during the fault",
                sent_during(Kind::Tts) - tts,
                sent_during(Kind::Tts),
                sent_during(Kind::Stt) - stt,
                sent_during(Kind::Stt)
            ));
            if tts + stt > 0 {
                row.problems.push(format!(
                    "{} requests failed although this fault must not fail any",
                    tts + stt
                ));
            }
            if fault == Fault::WebhooksDropped && row.jobs_failed > 0 {
                row.problems
                    .push("jobs failed although only webhooks were dropped".into());
            }
        }
        Fault::S3Stopped => {
            let tts: Vec<&Record> = during(records, Kind::Tts).collect();
            let ok = tts.iter().filter(|r| r.succeeded()).count();
            let nulls = tts
                .iter()
                .filter(|r| r.succeeded() && r.audio_url_null)
                .count();
            row.notes.push(format!(
                "{ok}/{} syntheses succeeded during the outage, {nulls} with audio_url null",
                tts.len()
            ));
            if ok < tts.len() {
                row.problems
                    .push("syntheses failed while only the object store was down".into());
            }
            if nulls == 0 {
                row.problems
                    .push("no answer had audio_url null: the outage was not seen".into());
            }
            check_mirrors(env, records, row).await;
        }
        Fault::PostgresCut | Fault::PostgresAnswerLost | Fault::PostgresStopped => {
            row.notes.push(format!(
                "{} requests failed during the fault, {} succeeded",
                records
                    .iter()
                    .filter(|r| r.phase == Phase::During && !r.succeeded())
                    .count(),
                records
                    .iter()
                    .filter(|r| r.phase == Phase::During && r.succeeded())
                    .count(),
            ));
        }
        Fault::UpstreamSlow => {
            let tts: Vec<&Record> = during(records, Kind::Tts).collect();
            let timeouts = tts.iter().filter(|r| r.status == Some(504)).count();
            let ok = tts.iter().filter(|r| r.succeeded()).count();
            row.notes.push(format!(
                "{ok} syntheses succeeded and {timeouts} timed out during the fault"
            ));
            if timeouts == 0 || ok == 0 {
                row.problems.push(
                    "the fault was not seen: syntheses both timing out and succeeding expected"
                        .into(),
                );
            }
        }
        Fault::Upstream5xx | Fault::Upstream429 => {}
        Fault::GatewaySigkill => {}
    }
    let codes = failure_codes(records);
    if !codes.is_empty() {
        row.notes.push(format!("answers that failed: {codes:?}"));
    }
}

/// How many failed answers of each status and code the clients saw.
fn failure_codes(records: &[Record]) -> BTreeMap<String, usize> {
    let mut codes = BTreeMap::new();
    for r in records.iter().filter(|r| !r.succeeded()) {
        let key = match r.status {
            Some(s) => format!("{s} {}", r.error.clone().unwrap_or_default()),
            None => "no answer".to_owned(),
        };
        *codes.entry(key).or_default() += 1;
    }
    codes
}

/// Every synthesis answered with `audio_url: null` had its bytes kept and is mirrored once
/// the store is back: its row is confirmed, its kept copy dropped, and the object is there.
async fn check_mirrors(env: &Env, records: &[Record], row: &mut Row) {
    let nulls: Vec<uuid::Uuid> = records
        .iter()
        .filter(|r| r.succeeded() && r.audio_url_null)
        .filter_map(|r| r.asset_id)
        .collect();
    if nulls.is_empty() {
        return;
    }
    let list = nulls
        .iter()
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(",");
    let start = Instant::now();
    let pending = loop {
        let pending = env
            .db
            .count(&format!(
                "SELECT 1 FROM assets a WHERE a.id IN ({list}) AND (a.mirrored_at IS NULL \
                 OR EXISTS (SELECT 1 FROM asset_blobs b WHERE b.asset_id = a.id))"
            ))
            .await;
        if pending == 0 || start.elapsed() > MIRROR_BOUND {
            break pending;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    if pending > 0 {
        row.problems.push(format!(
            "{pending} of {} assets kept during the outage were not mirrored within {} s",
            nulls.len(),
            MIRROR_BOUND.as_secs()
        ));
        return;
    }
    let keys = env
        .db
        .rows(&format!(
            "SELECT object_key FROM assets WHERE id IN ({list})"
        ))
        .await;
    let store = env.app.store();
    let mut missing = 0;
    for k in &keys {
        if !store
            .exists(k["object_key"].as_str().unwrap())
            .await
            .unwrap_or(false)
        {
            missing += 1;
        }
    }
    if missing > 0 {
        row.problems
            .push(format!("{missing} mirrored assets are not in the bucket"));
    }
    row.notes.push(format!(
        "{} assets kept during the outage were mirrored {:.1} s after the check began",
        nulls.len(),
        start.elapsed().as_secs_f64()
    ));
}

/// Creates an account with `balance` and a key, straight in Postgres.
async fn create_user(db: &Db, balance: &str) -> User {
    let repo: Arc<dyn AccountRepository> = Arc::new(db.pg.clone());
    let account = repo.create_account("faults", None).await.unwrap();
    let auth = Authenticator::new(repo.clone());
    let key = auth.issue_key(account.id, "faults").await.unwrap();
    let amount: Decimal = balance.parse().unwrap();
    auth.top_up(account.id, amount, "faults").await.unwrap();
    User {
        account: account.id,
        key: key.plaintext().to_owned(),
        key_id: key.key_id().to_owned(),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `indox serve` as a child process, killed with SIGKILL twice under load and restarted on
/// the same port each time.
async fn sigkill_restart() -> Row {
    let database = TestDatabase::new().await;
    let s3 = LocalS3::start().await.expect("s3s-fs starts");
    let bucket = LocalS3::unique_bucket("faults");
    let sim = indox_simulator::start(
        indox_simulator::SimConfig {
            stream_chunk_delay: Duration::from_millis(2),
            ..indox_simulator::SimConfig::default()
        },
        std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
    )
    .await
    .expect("simulator starts");
    let port = free_port();
    let root = format!("http://127.0.0.1:{port}");
    let base = format!("{root}/api/v1");
    let env: BTreeMap<String, String> = [
        ("DATABASE_URL", database.url.clone()),
        ("INDOX_PG_POOL", "8".into()),
        ("REDIS_URL", REDIS_URL.into()),
        ("INDOX_REDIS_TIMEOUT_MS", "200".into()),
        (
            "INDOX_RATE_LIMIT_PREFIX",
            format!("faults-{}", uuid::Uuid::new_v4().simple()),
        ),
        (
            "INDOX_RATE_LIMITS",
            "default=1000/1m,upstream=1000/1s".into(),
        ),
        ("S3_ENDPOINT", s3.endpoint.clone()),
        ("S3_REGION", s3.region.clone()),
        ("S3_BUCKET", bucket.clone()),
        ("S3_ACCESS_KEY", s3.access_key.clone()),
        ("S3_SECRET_KEY", s3.secret_key.clone()),
        ("S3_PATH_STYLE", "true".into()),
        ("S3_CREATE_BUCKET", "true".into()),
        ("S3_TIMEOUT_MS", "1500".into()),
        ("RESEMBLE_API_KEY", "sim-key".into()),
        ("RESEMBLE_APP_URL", sim.app_url()),
        ("RESEMBLE_SYNTH_URL", sim.synth_url()),
        ("RESEMBLE_TIMEOUT_SECS", "10".into()),
        ("RESEMBLE_WEBHOOK_SECRET", "sim-callback-secret".into()),
        ("INDOX_BIND", format!("127.0.0.1:{port}")),
        ("INDOX_PUBLIC_URL", root.clone()),
        ("INDOX_EGRESS_ALLOWLIST", "127.0.0.0/8,::1/128".into()),
        ("INDOX_JOB_POLL_MS", "300".into()),
        ("INDOX_TASK_LEASE_SECS", TASK_LEASE_SECS.to_string()),
        ("INDOX_MIRROR_INTERVAL_MS", "200".into()),
        ("INDOX_CALLBACK_SCHEDULE_MS", "50,50,50".into()),
        ("INDOX_WORKERS", "2".into()),
        ("RUST_LOG", "warn".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let log = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "faults-gateway-{}.log",
        uuid::Uuid::new_v4().simple()
    ));
    // Migrations are applied: TestDatabase is a copy of the migrated template.
    let mut gw = process::GatewayProcess::start(port, env, log);
    assert_eq!(gw.root(), root);
    let first = wait_ready(&root, READY_BOUND).await;
    assert!(
        first.is_some(),
        "the gateway process did not become ready:\n{}",
        gw.log_tail(40)
    );
    let db = Db::connect(&database.url).await;
    let setup = create_user(&db, "5.00").await;
    let user = create_user(&db, BALANCE).await;
    let store = S3Store::new(s3.config(&bucket)).unwrap();
    let client = reqwest::Client::new();
    let stt_url = input_audio(&client, &base, &setup.key, &db, &store).await;
    let load = Load::start(
        Target {
            base,
            key: user.key.clone(),
            stt_url,
        },
        Mix::default(),
    );
    tokio::time::sleep(BEFORE).await;
    load.set_phase(Phase::During);
    let mut recovery: Option<f64> = Some(0.0);
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        gw.kill();
        tokio::time::sleep(Duration::from_millis(300)).await;
        gw.restart();
        let r = wait_ready(&root, READY_BOUND).await;
        recovery = match (recovery, r) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    load.set_phase(Phase::After);
    tokio::time::sleep(AFTER).await;
    let records = load.finish().await;
    let drain = db.drain(DRAIN_BOUND).await;
    let target = Target {
        base: format!("{root}/api/v1"),
        key: user.key.clone(),
        stt_url: String::new(),
    };
    let mut row = check::check(
        Fault::GatewaySigkill.name(),
        &db,
        user.account,
        BALANCE.parse().unwrap(),
        &records,
    )
    .await;
    row.recovery_secs = recovery;
    row.drain_secs = drain;
    row.notes.push(format!(
        "killed twice; the restarted process picked up the dead one's tasks after their \
         {TASK_LEASE_SECS} s lease; answers that failed: {:?}",
        failure_codes(&records)
    ));
    if recovery.is_none() {
        row.problems.push(format!(
            "the restarted gateway was not ready within {} s:\n{}",
            READY_BOUND.as_secs(),
            gw.log_tail(40)
        ));
    }
    if drain.is_none() {
        row.problems.push(format!(
            "jobs were still open {} s after the load stopped",
            DRAIN_BOUND.as_secs()
        ));
    }
    let late = after_recovery_failures(&records);
    if !late.is_empty() {
        row.problems.push(format!(
            "{} requests sent after recovery failed: {late:?}",
            late.len()
        ));
    }
    check::check_replays(&db, user.account, &records, &target, &mut row).await;
    gw.kill();
    sim.stop().await;
    drop(db);
    drop(database);
    row
}
