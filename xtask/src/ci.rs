//! `cargo xtask ci`: the whole CI sequence, the same locally and in CI.

use std::process::Command;

use crate::services::{self, run};

fn cargo(args: &[&str]) -> Command {
    let mut c = Command::new("cargo");
    c.current_dir(crate::root()).args(args);
    c
}

/// Runs every check; the first failure stops the run.
pub fn run_ci() -> anyhow::Result<()> {
    let root = crate::root();
    eprintln!("== services: Postgres, Redis, s3s-fs, Chromium");
    services::ensure_postgres()?;
    services::ensure_redis()?;
    let s3 = services::ensure_s3s_fs()?;
    services::ensure_python_requests()?;
    // The contract test (schemathesis against the gateway); the test suite also fails when
    // docs/openapi.json is not the document the code generates (`cargo xtask openapi`).
    services::ensure_schemathesis()?;
    services::ensure_chromium()?;

    eprintln!("== rustfmt");
    run(&mut cargo(&["fmt", "--all", "--check"]))?;
    eprintln!("== clippy (warnings denied)");
    run(cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--locked",
        "--",
        "-D",
        "warnings",
    ])
    .env("RUSTFLAGS", ""))?;
    eprintln!("== tidy (dependency rule, module headers, crate READMEs)");
    crate::tidy::run(&root)?;
    eprintln!("== tests (nextest, real Postgres, Redis and S3 server)");
    run(cargo(&[
        "nextest",
        "run",
        "--workspace",
        "--all-features",
        "--locked",
        "--profile",
        "ci",
    ])
    .env("S3S_FS_BIN", &s3))?;
    eprintln!("== doc tests");
    run(&mut cargo(&[
        "test",
        "--workspace",
        "--all-features",
        "--locked",
        "--doc",
    ]))?;
    eprintln!("== fuzz (every fuzz target for a few seconds; fuzz/README.md)");
    crate::fuzz::ci_smoke(&root)?;
    eprintln!("== all checks passed");
    Ok(())
}
