//! Open-loop load generator: fixed-rate requests, latency from the scheduled send time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::sync::Mutex;

struct Args {
    target: String,
    url: String,
    key: String,
    rate: u64,
    seconds: u64,
    text: String,
    voice: String,
}

fn parse() -> anyhow::Result<Args> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let get = |name: &str| {
        raw.iter()
            .position(|a| a == name)
            .and_then(|i| raw.get(i + 1))
            .cloned()
    };
    let need = |name: &str| get(name).with_context(|| format!("missing {name}"));
    Ok(Args {
        target: need("--target")?,
        url: need("--url")?,
        key: need("--key")?,
        rate: need("--rate")?.parse().context("--rate")?,
        seconds: get("--seconds")
            .unwrap_or_else(|| "10".into())
            .parse()
            .context("--seconds")?,
        text: get("--text").unwrap_or_else(|| "Hello from IndoxHub.".into()),
        voice: get("--voice").unwrap_or_else(|| "55592656".into()),
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse()?;
    let (endpoint, body) = match args.target.as_str() {
        "sim" => (
            format!("{}/synthesize", args.url.trim_end_matches('/')),
            serde_json::json!({"voice_uuid": args.voice, "data": args.text, "output_format": "mp3"}),
        ),
        "gateway" => (
            format!("{}/resemble/tts/synthesize", args.url.trim_end_matches('/')),
            serde_json::json!({"voice_uuid": args.voice, "text": args.text, "output_format": "mp3"}),
        ),
        other => bail!("--target must be sim or gateway, not {other}"),
    };
    let body = Arc::new(serde_json::to_vec(&body)?);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .timeout(Duration::from_secs(10))
        .build()?;
    let auth = format!("Bearer {}", args.key);
    let results: Arc<Mutex<Vec<(f64, bool)>>> = Arc::new(Mutex::new(Vec::new()));
    let total = args.rate * args.seconds;
    let interval = Duration::from_nanos(1_000_000_000 / args.rate.max(1));

    // Warm the connection pool and both servers' caches (counted apart).
    let mut prewarm_ok = 0u64;
    for _ in 0..20 {
        let r = client
            .post(&endpoint)
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .body(body.as_ref().clone())
            .send()
            .await;
        if let Ok(resp) = r {
            if resp.status().is_success() && resp.bytes().await.is_ok() {
                prewarm_ok += 1;
            }
        }
    }

    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let scheduled = start + interval * (i as u32);
        tokio::time::sleep_until(scheduled.into()).await;
        let client = client.clone();
        let endpoint = endpoint.clone();
        let auth = auth.clone();
        let body = body.clone();
        let results = results.clone();
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(&endpoint)
                .header("authorization", &auth)
                .header("content-type", "application/json")
                .body(body.as_ref().clone())
                .send()
                .await;
            let ok = match r {
                Ok(resp) => {
                    let status = resp.status();
                    resp.bytes().await.is_ok() && status.is_success()
                }
                Err(_) => false,
            };
            let latency_ms = scheduled.elapsed().as_secs_f64() * 1000.0;
            results.lock().await.push((latency_ms, ok));
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let results = results.lock().await;
    let mut lat: Vec<f64> = results
        .iter()
        .filter(|(_, ok)| *ok)
        .map(|(l, _)| *l)
        .collect();
    lat.sort_by(|a, b| a.total_cmp(b));
    let ok = lat.len();
    let out = serde_json::json!({
        "target": args.target,
        "rate": args.rate,
        "seconds": args.seconds,
        "sent": total,
        "ok": ok,
        "prewarm_ok": prewarm_ok,
        "errors": total as usize - ok,
        "achieved_rate": (total as f64 / elapsed * 10.0).round() / 10.0,
        "p50_ms": percentile(&lat, 50.0),
        "p90_ms": percentile(&lat, 90.0),
        "p99_ms": percentile(&lat, 99.0),
        "p999_ms": percentile(&lat, 99.9),
        "max_ms": lat.last().copied().unwrap_or(f64::NAN),
    });
    #[expect(clippy::print_stdout, reason = "the result line is this tool's output")]
    {
        println!("{out}");
    }
    Ok(())
}
