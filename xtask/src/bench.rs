//! `cargo xtask bench`: drives the gateway's `synthesize` and, in the same run, the simulator
//! directly, with open-loop load at fixed rates; reports the overhead the gateway adds and
//! writes `docs/benchmarks.md`.

use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;

use crate::services::{self, run};
use crate::up::value_of;

struct Run {
    rate: u64,
    sim: serde_json::Value,
    gw: serde_json::Value,
    /// CPU milliseconds per gateway request, per component, during the gateway run.
    cpu: Vec<(&'static str, f64)>,
}

/// User + system CPU time of processes, in clock ticks (1/100 s on Linux).
fn cpu_ticks(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| {
            // Fields after the command name, which is in parentheses and may hold spaces.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some(utime + stime)
        })
        .sum()
}

/// The pids of every process with this exact name.
fn pids_named(name: &str) -> Vec<u32> {
    services::output(Command::new("pgrep").args(["-x", name]))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn f(v: &serde_json::Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or(f64::NAN)
}

/// Runs the benchmark and writes the report.
pub fn run_bench(args: &[String]) -> anyhow::Result<()> {
    let root = crate::root();
    let rates: Vec<u64> = crate::flag(args, "--rates")
        .unwrap_or("100,200,300,400,500")
        .split(',')
        .map(|r| {
            r.trim()
                .parse()
                .context("--rates takes numbers like 100,250,500")
        })
        .collect::<anyhow::Result<_>>()?;
    let seconds: u64 = crate::flag(args, "--seconds")
        .unwrap_or("15")
        .parse()
        .context("--seconds")?;

    services::ensure_postgres()?;
    services::ensure_redis()?;
    let s3_bin = services::ensure_s3s_fs()?;
    eprintln!("building release binaries");
    run(Command::new("cargo").current_dir(&root).args([
        "build",
        "--release",
        "-p",
        "indox-server",
        "-p",
        "indox-simulator",
        "-p",
        "indox-bench",
        "--bins",
    ]))?;

    let scratch = root.join(".local").join("bench");
    let _ = std::fs::remove_dir_all(&scratch);
    let s3 = services::start_s3(&s3_bin, &scratch.join("s3"), 9190, "bench", "bench-secret")?;
    let sim = services::start_binary(
        &root,
        "release",
        "indox-simulator",
        &["--port", "4190", "--api-key", "sim-key"],
        &[],
        "simulator",
    )?;
    services::wait_port("127.0.0.1:4190", Duration::from_secs(20))?;

    let db = "indox_bench";
    let _ = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-qc",
            &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
        ])
        .status();
    services::ensure_database(db)?;
    let envs: Vec<(&str, String)> = vec![
        (
            "DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:5432/{db}"),
        ),
        ("INDOX_BIND", "127.0.0.1:8190".into()),
        ("S3_ENDPOINT", "http://127.0.0.1:9190".into()),
        ("S3_ACCESS_KEY", "bench".into()),
        ("S3_SECRET_KEY", "bench-secret".into()),
        ("S3_CREATE_BUCKET", "true".into()),
        ("RESEMBLE_API_KEY", "sim-key".into()),
        ("RESEMBLE_APP_URL", "http://127.0.0.1:4190/api/v2".into()),
        ("RESEMBLE_SYNTH_URL", "http://127.0.0.1:4190".into()),
        // The benchmark measures overhead, not the limits: raise them out of the way
        // (the limiter still runs its Redis script on every request).
        (
            "INDOX_RATE_LIMITS",
            "tts=100000000/1m,upstream=100000000/1s".into(),
        ),
        (
            "INDOX_RATE_LIMIT_PREFIX",
            format!("bench-{}", std::process::id()),
        ),
        ("RUST_LOG", "warn".into()),
    ];
    let indox = root.join("target/release/indox");
    let cmd = |a: &[&str]| {
        let mut c = Command::new(&indox);
        c.args(a);
        for (k, v) in &envs {
            c.env(k, v);
        }
        c
    };
    run(&mut cmd(&["migrate"]))?;
    let account = value_of(
        &services::output(&mut cmd(&["admin", "create-account", "--name", "bench"]))?,
        "ACCOUNT_ID",
    )
    .context("no account")?;
    let key = value_of(
        &services::output(&mut cmd(&["admin", "create-key", "--account", &account]))?,
        "API_KEY",
    )
    .context("no key")?;
    services::output(&mut cmd(&[
        "admin",
        "top-up",
        "--account",
        &account,
        "--amount",
        "1000000",
    ]))?;
    let gw_child = cmd(&["serve"]).spawn().context("starting the gateway")?;
    let gw = services::Guard(gw_child, "gateway");
    services::wait_port("127.0.0.1:8190", Duration::from_secs(30))?;

    let bench = root.join("target/release/indox-bench");
    let load =
        |target: &str, url: &str, key: &str, rate: u64| -> anyhow::Result<serde_json::Value> {
            let out = services::output(Command::new(&bench).args([
                "--target",
                target,
                "--url",
                url,
                "--key",
                key,
                "--rate",
                &rate.to_string(),
                "--seconds",
                &seconds.to_string(),
            ]))?;
            let v: serde_json::Value = serde_json::from_str(out.trim()).context("bench output")?;
            eprintln!("{v}");
            Ok(v)
        };
    // A fresh gateway, database and S3 server take a few seconds at load to reach steady
    // state (connection pools fill, statements get prepared, caches warm): warm up first,
    // without recording.
    eprintln!("warming up for 15 s at 200 req/s (not recorded)");
    let warm = |target: &str, url: &str, key: &str| {
        services::output(Command::new(&bench).args([
            "--target",
            target,
            "--url",
            url,
            "--key",
            key,
            "--rate",
            "200",
            "--seconds",
            "15",
        ]))
    };
    warm("sim", "http://127.0.0.1:4190", "sim-key")?;
    let warm_gw: serde_json::Value =
        serde_json::from_str(warm("gateway", "http://127.0.0.1:8190/api/v1", &key)?.trim())?;
    let answered = |v: &serde_json::Value| {
        v["ok"].as_u64().unwrap_or(0) + v["prewarm_ok"].as_u64().unwrap_or(0)
    };
    let mut gateway_answers = answered(&warm_gw);
    let mut runs = Vec::new();
    let components: Vec<(&'static str, Vec<u32>)> = vec![
        ("gateway", vec![gw.0.id()]),
        ("S3 server (s3s-fs)", vec![s3.0.id()]),
        ("PostgreSQL", pids_named("postgres")),
        ("Redis", pids_named("redis-server")),
        ("simulator", vec![sim.0.id()]),
    ];
    for &rate in &rates {
        let sim_r = load("sim", "http://127.0.0.1:4190", "sim-key", rate)?;
        let before: Vec<u64> = components.iter().map(|(_, p)| cpu_ticks(p)).collect();
        let gw_r = load("gateway", "http://127.0.0.1:8190/api/v1", &key, rate)?;
        let requests = (gw_r["ok"].as_u64().unwrap_or(0) + gw_r["prewarm_ok"].as_u64().unwrap_or(0))
            .max(1) as f64;
        let cpu = components
            .iter()
            .zip(before)
            .map(|((name, p), b)| {
                (
                    *name,
                    (cpu_ticks(p).saturating_sub(b)) as f64 * 10.0 / requests,
                )
            })
            .collect();
        gateway_answers += answered(&gw_r);
        runs.push(Run {
            rate,
            sim: sim_r,
            gw: gw_r,
            cpu,
        });
    }

    // Durability check: every successful gateway answer (warm-up included) has exactly one
    // usage row.
    let ok_total = gateway_answers;
    let rows = services::output(Command::new("psql").args([
        "-h",
        "127.0.0.1",
        "-U",
        "postgres",
        "-d",
        db,
        "-tAc",
        "SELECT count(*) FROM provider_resemble_usage",
    ]))?;
    let rows: u64 = rows.trim().parse().unwrap_or(0);
    drop(gw);
    drop(sim);
    drop(s3);

    let report = render(&runs, seconds, ok_total, rows)?;
    // Only the measured part between the markers is replaced; the analysis around it stays.
    let path = root.join("docs/benchmarks.md");
    let (start, end) = ("<!-- bench:start -->", "<!-- bench:end -->");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let new = match (old.find(start), old.find(end)) {
        (Some(a), Some(b)) if a < b => format!("{}{start}\n{report}{}", &old[..a], &old[b..]),
        _ => format!("{start}\n{report}{end}\n"),
    };
    std::fs::write(&path, new)?;
    eprintln!("{report}");
    eprintln!("wrote docs/benchmarks.md");
    Ok(())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().next().map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<u64>()
                    .unwrap_or(0)
            })
        })
        .map_or("?".into(), |kb| {
            format!("{:.0} GiB", kb as f64 / 1024.0 / 1024.0)
        });
    format!("{cores} cores ({cpu}), {mem} RAM")
}

fn render(runs: &[Run], seconds: u64, ok_total: u64, rows: u64) -> anyhow::Result<String> {
    let date = services::output(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]))
        .unwrap_or_default();
    let mut s = String::new();
    writeln!(
        s,
        "Produced by `cargo xtask bench --rates {} --seconds {seconds}` on {}.",
        runs.iter()
            .map(|r| r.rate.to_string())
            .collect::<Vec<_>>()
            .join(","),
        date.trim()
    )?;
    writeln!(s, "Machine: {}; everything on this one box: load generator, gateway (release build), Resemble simulator, PostgreSQL, Redis and the S3 server (s3s-fs).\n", machine())?;
    writeln!(s, "Before measuring, both targets get 15 s of unrecorded load at 200 req/s (a fresh gateway, database and S3 server need a few seconds at load to reach steady state).")?;
    writeln!(s, "Method: open-loop load (a request every 1/rate s, latency measured from the scheduled send time, so queueing is not hidden) for {seconds} s per run.")?;
    writeln!(s, "Each rate is run first against the simulator's `POST /synthesize` directly, then against the gateway's `POST /api/v1/resemble/tts/synthesize` in front of the same simulator, with everything on: API-key auth (Postgres), the Redis rate-limit script (limits raised out of the way), the audio-length decode, the S3 mirror and presign, and the metering transaction committed before the response leaves.")?;
    writeln!(s, "Request: `{{\"voice_uuid\":\"55592656\",\"text\":\"Hello from IndoxHub.\",\"output_format\":\"mp3\"}}` (1.60 s of MP3).\n")?;
    writeln!(
        s,
        "Added latency = gateway percentile − simulator percentile at the same rate.\n"
    )?;
    writeln!(s, "| rate (req/s) | sim p50 | sim p99 | sim p99.9 | gateway p50 | gateway p99 | gateway p99.9 | added p50 | added p99 | added p99.9 | gateway ok / sent |")?;
    writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|")?;
    for r in runs {
        let (sp50, sp99, sp999) = (
            f(&r.sim, "p50_ms"),
            f(&r.sim, "p99_ms"),
            f(&r.sim, "p999_ms"),
        );
        let (gp50, gp99, gp999) = (f(&r.gw, "p50_ms"), f(&r.gw, "p99_ms"), f(&r.gw, "p999_ms"));
        writeln!(
            s,
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} / {} |",
            r.rate,
            sp50,
            sp99,
            sp999,
            gp50,
            gp99,
            gp999,
            gp50 - sp50,
            gp99 - sp99,
            gp999 - sp999,
            r.gw["ok"],
            r.gw["sent"]
        )?;
    }
    let best = runs
        .iter()
        .filter(|r| f(&r.gw, "p99_ms") < 50.0 && r.gw["errors"].as_u64() == Some(0))
        .map(|r| r.rate)
        .max();
    writeln!(s)?;
    match best {
        Some(rate) => writeln!(s, "Highest rate held with gateway p99 under 50 ms and no errors: **{rate} req/s** (of the rates tried).")?,
        None => writeln!(s, "No rate tried held gateway p99 under 50 ms without errors.")?,
    }
    writeln!(s, "\nWhere the box's CPU goes during each gateway run (CPU milliseconds per gateway request, from `/proc/<pid>/stat`; the box has 2 cores, so about 4 ms of CPU per request in total saturates it at 500 req/s):\n")?;
    if let Some(first) = runs.first() {
        let names: Vec<&str> = first.cpu.iter().map(|(n, _)| *n).collect();
        writeln!(s, "| rate | {} | total |", names.join(" | "))?;
        writeln!(s, "|---|{}---|", "---|".repeat(names.len()))?;
        for r in runs {
            let total: f64 = r.cpu.iter().map(|(_, v)| v).sum();
            let cells: Vec<String> = r.cpu.iter().map(|(_, v)| format!("{v:.2}")).collect();
            writeln!(s, "| {} | {} | {total:.2} |", r.rate, cells.join(" | "))?;
        }
    }
    writeln!(s, "\nMetering durability: {ok_total} successful gateway answers in the whole run (warm-up included), {rows} rows in `provider_resemble_usage` (every answer's usage row is committed before the answer is sent).")?;
    Ok(s)
}
