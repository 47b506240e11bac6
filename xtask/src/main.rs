//! Project automation entry point: `cargo xtask <command>`.
//!
//! - `up`: start everything a fresh machine needs and serve the gateway;
//! - `ci`: the whole CI sequence (format, lints, tests on real services, tidy, fuzz);
//! - `bench`: the overhead benchmark;
//! - `faults`: the fault suite (load + one injected fault at a time + billing invariants);
//! - `fuzz`: the cargo-fuzz targets in fuzz/ (stable toolchain);
//! - `openapi`: write (or `--check`) docs/openapi.json, the document generated from the code;
//! - `tidy`: the architecture checks (also run as a test).

mod bench;
mod ci;
mod faults;
mod fuzz;
mod openapi;
mod services;
mod tidy;
mod up;

use std::path::PathBuf;

const HELP: &str = "cargo xtask <command>
  up       start Postgres, Redis, the local S3 server and (without RESEMBLE_API_KEY) the Resemble
           simulator; migrate; create a demo account and key; print BASE_URL/API_KEY; serve
           options: --release   build the gateway in release mode
  ci       fmt check, clippy -D warnings, the full test suite on real services, doc tests, tidy,
           a short run of every fuzz target
  bench    open-loop load on the gateway and on the simulator; writes docs/benchmarks.md
           options: --rates 100,200,300,400,500  --seconds 15
  faults   the fault suite: load through the gateway while Postgres, Redis, S3, the upstream or
           the gateway process itself fails, one fault at a time; checks the billing invariants
           and prints faults x requests x lost x duplicated x recovery (target/faults-table.md)
           options: fault names to run only those (postgres-cut, s3-stopped, gateway-sigkill, ...)
  fuzz     install cargo-fuzz if missing, build the fuzz targets (stable, no sanitizer) and run
           each for N seconds; fails on a crash and prints where its input was saved
           options: --seconds 60  --runs N (instead of seconds)  [signature_header|egress_url|audio_duration]
  openapi  write docs/openapi.json, the OpenAPI 3.1 document generated from the code
           options: --check   fail if the committed file differs (CI runs this)
  tidy     architecture checks: dependency rule, module headers, crate READMEs";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or_default();
    match args.first().map(String::as_str) {
        Some("up") => up::run_up(rest),
        Some("ci") => ci::run_ci(),
        Some("bench") => bench::run_bench(rest),
        Some("faults") => faults::run_faults(rest),
        Some("fuzz") => fuzz::run_fuzz(rest),
        Some("openapi") => openapi::run(&root(), rest),
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
