//! Project automation entry point: `cargo xtask <command>`.
//!
//! - `up`: start everything a fresh machine needs and serve the gateway;
//! - `ci`: the whole CI sequence (format, lints, tests on real services, tidy);
//! - `bench`: the overhead benchmark;
//! - `tidy`: the architecture checks (also run as a test).

mod bench;
mod ci;
mod services;
mod tidy;
mod up;

use std::path::PathBuf;

const HELP: &str = "cargo xtask <command>
  up       start Postgres, Redis, the local S3 server and (without RESEMBLE_API_KEY) the Resemble
           simulator; migrate; create a demo account and key; print BASE_URL/API_KEY; serve
           options: --release   build the gateway in release mode
  ci       fmt check, clippy -D warnings, the full test suite on real services, doc tests, tidy
  bench    open-loop load on the gateway and on the simulator; writes docs/benchmarks.md
           options: --rates 100,200,300,400,500  --seconds 15
  tidy     architecture checks: dependency rule, module headers, crate READMEs";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or_default();
    match args.first().map(String::as_str) {
        Some("up") => up::run_up(rest),
        Some("ci") => ci::run_ci(),
        Some("bench") => bench::run_bench(rest),
        Some("tidy") => tidy::run(&root()),
        _ => {
            eprintln!("{HELP}");
            Ok(())
        }
    }
}

/// The repository root.
pub fn root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

/// A flag's value: `--name value`.
pub fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}
