//! `cargo xtask faults`: the fault suite (crates/indox-server/tests/faults, see docs/faults.md):
//! real load through a running gateway while one fault at a time is injected, then the
//! billing invariants; prints the table of faults × requests × lost × duplicated × recovery
//! seconds and leaves it in `target/faults-table.md`. CI runs the same test with the rest of
//! the suite (`cargo nextest run --workspace`).

use std::process::Command;

use anyhow::bail;

use crate::services::{self, run};

/// Runs the suite: every fault, or only the ones named (`postgres-cut`, `s3-stopped`, …; the
/// test refuses a name it does not know and lists them).
pub fn run_faults(args: &[String]) -> anyhow::Result<()> {
    if let Some(flag) = args.iter().find(|a| a.starts_with('-')) {
        bail!("unknown option `{flag}`; usage: cargo xtask faults [fault-name…]");
    }
    eprintln!("== services: Postgres, Redis, s3s-fs");
    services::ensure_postgres()?;
    services::ensure_redis()?;
    let s3 = services::ensure_s3s_fs()?;
    eprintln!("== fault suite (each fault on a fresh database, bucket and simulator)");
    let mut cmd = Command::new("cargo");
    cmd.current_dir(crate::root())
        .args([
            "nextest",
            "run",
            "-p",
            "indox-server",
            "--test",
            "faults",
            "--no-capture",
            "--no-fail-fast",
        ])
        .env("S3S_FS_BIN", &s3)
        .env("INDOX_FAULTS", args.join(","));
    run(&mut cmd)?;
    eprintln!(
        "== table written to {}",
        crate::root().join("target/faults-table.md").display()
    );
    Ok(())
}
