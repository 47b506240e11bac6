//! `cargo xtask up`: from a fresh machine to a serving gateway with a demo key.

use std::process::Command;

use anyhow::Context;

use crate::services::{self, run};

/// Starts everything and serves until interrupted.
pub fn run_up(args: &[String]) -> anyhow::Result<()> {
    let root = crate::root();
    let release = args.iter().any(|a| a == "--release");
    let profile = if release { "release" } else { "debug" };
    let port: u16 = std::env::var("INDOX_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let s3_port: u16 = std::env::var("S3_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(9000);
    let sim_port: u16 = 4010;

    services::ensure_postgres()?;
    services::ensure_redis()?;
    let s3_bin = services::ensure_s3s_fs()?;

    eprintln!("building the gateway and the simulator ({profile})");
    let mut build = Command::new("cargo");
    build.current_dir(&root).args([
        "build",
        "-p",
        "indox-server",
        "-p",
        "indox-simulator",
        "--bins",
    ]);
    if release {
        build.arg("--release");
    }
    run(&mut build)?;

    let local = root.join(".local");
    let mut envs: Vec<(&str, String)> = Vec::new();
    let mut guards = Vec::new();

    let s3_endpoint = std::env::var("S3_ENDPOINT").ok();
    if s3_endpoint.is_none() {
        guards.push(services::start_s3(
            &s3_bin,
            &local.join("s3"),
            s3_port,
            "indox",
            "indox-local-secret",
        )?);
        envs.push(("S3_ENDPOINT", format!("http://127.0.0.1:{s3_port}")));
        envs.push(("S3_ACCESS_KEY", "indox".into()));
        envs.push(("S3_SECRET_KEY", "indox-local-secret".into()));
        envs.push(("S3_CREATE_BUCKET", "true".into()));
        eprintln!("local S3 server (s3s-fs) on http://127.0.0.1:{s3_port}, data in .local/s3");
    }

    if std::env::var("RESEMBLE_API_KEY").map_or(true, |k| k.trim().is_empty()) {
        let sim = services::start_binary(
            &root,
            profile,
            "indox-simulator",
            &["--port", &sim_port.to_string(), "--api-key", "sim-key"],
            &[],
            "simulator",
        )?;
        services::wait_port(
            &format!("127.0.0.1:{sim_port}"),
            std::time::Duration::from_secs(20),
        )?;
        guards.push(sim);
        envs.push(("RESEMBLE_API_KEY", "sim-key".into()));
        envs.push((
            "RESEMBLE_APP_URL",
            format!("http://127.0.0.1:{sim_port}/api/v2"),
        ));
        envs.push(("RESEMBLE_SYNTH_URL", format!("http://127.0.0.1:{sim_port}")));
        eprintln!("no RESEMBLE_API_KEY: using the local Resemble simulator on http://127.0.0.1:{sim_port}");
    }

    let database_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/indox".to_owned());
    if std::env::var("DATABASE_URL").is_err() {
        services::ensure_database("indox")?;
    }
    envs.push(("DATABASE_URL", database_url));
    envs.push(("INDOX_BIND", format!("127.0.0.1:{port}")));
    if std::env::var("INDOX_EGRESS_ALLOWLIST").is_err() {
        // The local stack's media and storage live on loopback.
        envs.push(("INDOX_EGRESS_ALLOWLIST", "127.0.0.0/8,::1/128".into()));
    }
    if std::env::var("RESEMBLE_API_KEY").map_or(true, |k| k.trim().is_empty()) {
        // The simulator signs its job webhooks with its default secret.
        envs.push(("INDOX_PUBLIC_URL", format!("http://127.0.0.1:{port}")));
        envs.push(("RESEMBLE_WEBHOOK_SECRET", "sim-callback-secret".into()));
    }

    let indox = root.join("target").join(profile).join("indox");
    let with_env = |args: &[&str]| {
        let mut c = Command::new(&indox);
        c.args(args);
        for (k, v) in &envs {
            c.env(k, v);
        }
        c
    };
    run(&mut with_env(&["migrate"]))?;
    let created = services::output(&mut with_env(&[
        "admin",
        "create-account",
        "--name",
        "demo",
    ]))?;
    let account =
        value_of(&created, "ACCOUNT_ID").context("create-account printed no ACCOUNT_ID")?;
    let key_out = services::output(&mut with_env(&[
        "admin",
        "create-key",
        "--account",
        &account,
        "--label",
        "demo",
    ]))?;
    let api_key = value_of(&key_out, "API_KEY").context("create-key printed no API_KEY")?;
    services::output(&mut with_env(&[
        "admin",
        "top-up",
        "--account",
        &account,
        "--amount",
        "10.00",
        "--note",
        "demo credit",
    ]))?;

    let mut serve = with_env(&["serve"]);
    let mut child = serve.spawn().context("starting the gateway")?;
    services::wait_port(
        &format!("127.0.0.1:{port}"),
        std::time::Duration::from_secs(30),
    )?;
    #[expect(
        clippy::print_stdout,
        reason = "these lines are the command's output, for people and scripts"
    )]
    {
        println!("BASE_URL=http://127.0.0.1:{port}/api/v1");
        println!("API_KEY={api_key}");
        println!("ACCOUNT_ID={account}");
    }
    eprintln!("the demo account has 10.00 USD; press Ctrl-C to stop");
    let status = child.wait()?;
    drop(guards);
    if !status.success() {
        anyhow::bail!("the gateway exited with {status}");
    }
    Ok(())
}

/// Finds `NAME=value` in command output.
pub fn value_of(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|l| {
        l.strip_prefix(&format!("{name}="))
            .map(|v| v.trim().to_owned())
    })
}
