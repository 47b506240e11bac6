//! Scale-out: three real `indox serve` processes on one Postgres, Redis, bucket and upstream,
//! behind a round-robin TCP balancer. Global rate limits hold across them (one shared
//! sliding window in Redis), and every job is processed and billed exactly once whichever
//! process accepted it, polled it or received its webhook.

use std::collections::HashSet;
use std::net::TcpListener as StdListener;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indox_accounts::{AccountRepository, Authenticator};
use indox_postgres::TestDatabase;
use indox_s3::LocalS3;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

use crate::helpers::eventually;

const PROCESSES: usize = 3;
const TTS_LIMIT: usize = 20;

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A round-robin TCP balancer on `listener`: each new connection goes to the next backend.
fn round_robin(listener: TcpListener, backends: Vec<u16>) {
    let next = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let backend = backends[next.fetch_add(1, Ordering::Relaxed) % backends.len()];
            tokio::spawn(async move {
                if let Ok(mut server) = TcpStream::connect(("127.0.0.1", backend)).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
}

/// One gateway process configured entirely by environment, as in production.
fn gateway(port: u16, env: &[(String, String)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_indox"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("INDOX_BIND", format!("127.0.0.1:{port}"))
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the indox binary starts")
}

#[tokio::test]
async fn three_processes_share_global_limits_and_bill_every_job_once() {
    let db = TestDatabase::new().await;
    let s3 = LocalS3::start().await.unwrap();
    let bucket = LocalS3::unique_bucket("scale");
    let s3_cfg = s3.config(&bucket);
    let sim = indox_simulator::start(
        indox_simulator::SimConfig::default(),
        StdListener::bind("127.0.0.1:0").unwrap(),
    )
    .await
    .unwrap();

    // The balancer's port is taken first, so no gateway is given the same one.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let lb = listener.local_addr().unwrap().port();
    let mut ports: Vec<u16> = Vec::new();
    while ports.len() < PROCESSES {
        let p = free_port();
        if p != lb && !ports.contains(&p) {
            ports.push(p);
        }
    }
    round_robin(listener, ports.clone());
    let base = format!("http://127.0.0.1:{lb}/api/v1");
    let env: Vec<(String, String)> = [
        ("DATABASE_URL", db.url.clone()),
        ("INDOX_PG_POOL", "4".into()),
        ("REDIS_URL", "redis://127.0.0.1:6379".into()),
        (
            "INDOX_RATE_LIMIT_PREFIX",
            format!("scale-{}", uuid::Uuid::new_v4().simple()),
        ),
        (
            "INDOX_RATE_LIMITS",
            format!("tts={TTS_LIMIT}/1m,default=1000/1m,upstream=1000/1s"),
        ),
        ("S3_ENDPOINT", s3_cfg.endpoint.clone()),
        ("S3_REGION", s3_cfg.region.clone()),
        ("S3_BUCKET", s3_cfg.bucket.clone()),
        ("S3_ACCESS_KEY", s3_cfg.access_key.clone()),
        ("S3_SECRET_KEY", s3_cfg.secret_key.clone()),
        ("S3_PATH_STYLE", "true".into()),
        ("S3_CREATE_BUCKET", "true".into()),
        ("RESEMBLE_API_KEY", "sim-key".into()),
        ("RESEMBLE_APP_URL", sim.app_url()),
        ("RESEMBLE_SYNTH_URL", sim.synth_url()),
        ("RESEMBLE_WEBHOOK_SECRET", "sim-callback-secret".into()),
        // The provider's webhooks reach whichever process the balancer picks.
        ("INDOX_PUBLIC_URL", format!("http://127.0.0.1:{lb}")),
        ("INDOX_EGRESS_ALLOWLIST", "127.0.0.0/8,::1/128".into()),
        ("INDOX_JOB_POLL_MS", "300".into()),
        ("INDOX_WORKERS", "1".into()),
        ("RUST_LOG", "warn".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let _children: Vec<Child> = ports.iter().map(|p| gateway(*p, &env)).collect();
    let http = reqwest::Client::new();
    // A process starting under a loaded CI box may take several seconds: wait up to 60 s.
    for port in &ports {
        let mut last = String::new();
        for _ in 0..600 {
            match http
                .get(format!("http://127.0.0.1:{port}/readyz"))
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => {
                    last.clear();
                    break;
                }
                Ok(r) => last = r.text().await.unwrap_or_default(),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(last.is_empty(), "process on {port} becomes ready: {last}");
    }

    let store = db.store().await.unwrap();
    let repo: Arc<dyn AccountRepository> = Arc::new(store.clone());
    let auth = Authenticator::new(repo.clone());
    let new_user = || async {
        let account = repo.create_account("scale", None).await.unwrap();
        auth.top_up(account.id, Decimal::new(1000, 2), "test")
            .await
            .unwrap();
        let key = auth.issue_key(account.id, "scale").await.unwrap();
        (account.id, key.plaintext().to_owned())
    };

    // 1. The per-account TTS limit holds across the three processes: of 3 × the limit
    //    requests spread round-robin, exactly the limit succeed.
    let (limited, key) = new_user().await;
    let mut ok = 0;
    let mut limited_429 = 0;
    for i in 0..TTS_LIMIT * PROCESSES {
        let r = http
            .post(format!("{base}/resemble/tts/synthesize"))
            .bearer_auth(&key)
            .json(&json!({"voice_uuid": "55592656", "text": format!("Request {i}."), "output_format": "mp3"}))
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            200 => ok += 1,
            429 => limited_429 += 1,
            other => panic!("unexpected {other}: {}", r.text().await.unwrap()),
        }
    }
    assert_eq!(ok, TTS_LIMIT, "the global limit is shared by every process");
    assert_eq!(limited_429, TTS_LIMIT * (PROCESSES - 1));
    assert_eq!(
        store.usage_rows_for_account(limited).await.unwrap().len(),
        TTS_LIMIT
    );

    // 2. Jobs accepted by any process are processed and billed exactly once.
    let (account, key) = new_user().await;
    let spoken: Value = http
        .post(format!("{base}/resemble/tts/synthesize"))
        .bearer_auth(&key)
        .json(&json!({"voice_uuid": "55592656", "text": "Transcribe this sentence.", "output_format": "wav"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let asset = spoken["asset_id"].as_str().unwrap().to_owned();
    let audio_url = eventually(|| async {
        let r = http
            .get(format!("{base}/resemble/assets/{asset}"))
            .bearer_auth(&key)
            .send()
            .await
            .ok()?;
        (r.status() == 200).then_some(())?;
        r.json::<Value>().await.ok()?["audio_url"]
            .as_str()
            .map(str::to_owned)
    })
    .await
    .expect("the audio is stored");
    const JOBS: usize = 24;
    let mut ids = HashSet::new();
    for _ in 0..JOBS {
        let r: Value = http
            .post(format!("{base}/resemble/stt"))
            .bearer_auth(&key)
            .json(&json!({"audio_url": audio_url}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.insert(r["job_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), JOBS);
    let jobs = store.clone();
    for id in &ids {
        let uuid: uuid::Uuid = id.parse().unwrap();
        let mut done = None;
        for _ in 0..300 {
            let job = indox_jobs::JobRepository::get(&jobs, uuid)
                .await
                .unwrap()
                .unwrap();
            if job.status.is_terminal() {
                done = Some(job);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let job = done.unwrap_or_else(|| panic!("job {id} ends"));
        assert_eq!(job.status, indox_jobs::JobStatus::Completed, "{id}");
    }
    let rows = store.usage_rows_for_account(account).await.unwrap();
    let job_rows: Vec<_> = rows.iter().filter(|r| r.capability == "stt").collect();
    assert_eq!(job_rows.len(), JOBS, "one row per job");
    let billed: HashSet<String> = job_rows
        .iter()
        .map(|r| r.job_id.unwrap().to_string())
        .collect();
    assert_eq!(billed, ids, "each job billed once, none twice");
    assert_eq!(
        sim.stats().route("POST /api/v2/speech-to-text"),
        JOBS as u64,
        "each job sent upstream once"
    );
    let (balance_sum, held_sum) = store.ledger_sum(account).await.unwrap();
    let acct = repo.get_account(account).await.unwrap();
    assert_eq!((acct.balance, acct.held), (balance_sum, held_sum));
    assert_eq!(acct.held, Decimal::ZERO);
}
