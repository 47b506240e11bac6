//! `cargo xtask fuzz`: builds and runs the cargo-fuzz targets in `fuzz/` (see fuzz/README.md).
//!
//! Works on the stable toolchain: with `--sanitizer none` cargo-fuzz passes only stable rustc
//! flags (`-Cpasses=sancov-module` and `-Cllvm-args=-sanitizer-coverage-*`), so no nightly and
//! no `RUSTC_BOOTSTRAP` is needed. Each target fuzzes into `fuzz/target/corpus/<target>/`
//! (kept between runs, ignored by git) and reads the committed seeds in
//! `fuzz/corpus/<target>/` without writing there; crash inputs land in
//! `fuzz/artifacts/<target>/`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};

use crate::services::run;

/// Every fuzz target, in the order they run.
pub const TARGETS: [&str; 3] = ["signature_header", "egress_url", "audio_duration"];

/// The cargo-fuzz release installed when `cargo fuzz` is missing.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// How long each target runs when `--seconds` is not given.
const DEFAULT_SECONDS: u64 = 60;

/// How long each target runs in `cargo xtask ci`. Measured on the 2-core machine with other
/// builds running (load about 5): a clean build of the targets takes about 105 s, so the CI
/// step adds about 3 minutes (up to 4.5 under a load of 8); see fuzz/README.md.
pub const CI_SECONDS: u64 = 20;

/// What to fuzz and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuzzOptions {
    /// Wall-clock budget per target (`-max_total_time`).
    pub seconds: u64,
    /// Stop after this many inputs instead (`-runs`), for a quick smoke run.
    pub runs: Option<u64>,
    /// The targets to run (all of them when none was named).
    pub targets: Vec<String>,
}

impl FuzzOptions {
    /// Parses `[--seconds N] [--runs N] [target...]`.
    pub fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut seconds = DEFAULT_SECONDS;
        let mut runs = None;
        let mut targets = Vec::new();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--seconds" => {
                    let v = it.next().context("--seconds needs a number")?;
                    seconds = v.parse().with_context(|| format!("--seconds {v}"))?;
                }
                "--runs" => {
                    let v = it.next().context("--runs needs a number")?;
                    runs = Some(v.parse().with_context(|| format!("--runs {v}"))?);
                }
                t if TARGETS.contains(&t) => targets.push(t.to_owned()),
                other => bail!(
                    "unknown argument `{other}`; usage: cargo xtask fuzz [--seconds N] [--runs N] [{}]",
                    TARGETS.join("|")
                ),
            }
        }
        if targets.is_empty() {
            targets = TARGETS.iter().map(|t| (*t).to_owned()).collect();
        }
        if seconds == 0 {
            bail!("--seconds must be at least 1");
        }
        Ok(Self {
            seconds,
            runs,
            targets,
        })
    }
}

/// The CI step: every target for [`CI_SECONDS`].
pub fn ci_smoke(root: &Path) -> anyhow::Result<()> {
    let options = FuzzOptions {
        seconds: CI_SECONDS,
        runs: None,
        targets: TARGETS.iter().map(|t| (*t).to_owned()).collect(),
    };
    fuzz(root, &options)
}

/// `cargo xtask fuzz [--seconds N] [--runs N] [target...]`.
pub fn run_fuzz(args: &[String]) -> anyhow::Result<()> {
    let options = FuzzOptions::parse(args)?;
    fuzz(&crate::root(), &options)
}

/// Installs cargo-fuzz if needed, builds the targets, runs each one; fails on the first
/// target that finds a crash, after printing where its input was saved.
pub fn fuzz(root: &Path, options: &FuzzOptions) -> anyhow::Result<()> {
    ensure_cargo_fuzz()?;
    let started = Instant::now();
    eprintln!("== fuzz: building every target (stable toolchain, no sanitizer)");
    run(&mut cargo_fuzz(root, "build"))?;
    eprintln!("== fuzz: built in {:.0?}", started.elapsed());

    for target in &options.targets {
        let seeds = root.join("fuzz").join("corpus").join(target);
        let work = root.join("fuzz").join("target").join("corpus").join(target);
        let artifacts = root.join("fuzz").join("artifacts").join(target);
        std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
        std::fs::create_dir_all(&artifacts)?;
        let before = list(&artifacts)?;

        let budget = match options.runs {
            Some(n) => format!("-runs={n}"),
            None => format!("-max_total_time={}", options.seconds),
        };
        eprintln!("== fuzz: {target} ({budget})");
        let ran = Instant::now();
        let mut cmd = cargo_fuzz(root, "run");
        cmd.arg(target)
            .arg(&work)
            .arg(&seeds)
            .arg("--")
            .arg(&budget)
            // A hung input is a bug too; libFuzzer's default is 20 minutes.
            .arg("-timeout=10")
            .arg("-rss_limit_mb=2048")
            .arg("-max_len=4096")
            .arg("-print_final_stats=1");
        let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
        let found: Vec<PathBuf> = list(&artifacts)?.difference(&before).cloned().collect();
        if !status.success() {
            eprintln!("== fuzz: {target} FAILED after {:.0?}", ran.elapsed());
            for input in &found {
                let shown = input.strip_prefix(root).unwrap_or(input);
                eprintln!("   crash input saved to {}", shown.display());
                eprintln!(
                    "   reproduce: cargo fuzz run --sanitizer none {target} {}",
                    shown.display()
                );
            }
            if found.is_empty() {
                eprintln!("   (no new file in {})", artifacts.display());
            }
            bail!("fuzz target {target} failed ({status})");
        }
        for input in &found {
            eprintln!("   note: libFuzzer also saved {}", input.display());
        }
        eprintln!("== fuzz: {target} ok in {:.0?}", ran.elapsed());
    }
    eprintln!("== fuzz: all targets passed in {:.0?}", started.elapsed());
    Ok(())
}

/// `cargo fuzz <subcommand>` for the fuzz/ project with the stable-toolchain settings.
fn cargo_fuzz(root: &Path, subcommand: &str) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(root).args([
        "fuzz",
        subcommand,
        "--fuzz-dir",
        "fuzz",
        "--sanitizer",
        "none",
    ]);
    // `cargo run` (how xtask starts) sets the xtask package's variables; ring's build script
    // tracks CARGO_MANIFEST_DIR, so leaving them in would make builds through xtask and by
    // hand invalidate each other.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || matches!(
                &*name,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
            )
        {
            cmd.env_remove(&*name);
        }
    }
    cmd
}

/// Installs cargo-fuzz with cargo when `cargo fuzz` does not run.
fn ensure_cargo_fuzz() -> anyhow::Result<()> {
    let works = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !works {
        eprintln!("installing cargo-fuzz {CARGO_FUZZ_VERSION} (takes a minute or two once)");
        run(Command::new("cargo").args([
            "install",
            &format!("cargo-fuzz@{CARGO_FUZZ_VERSION}"),
            "--locked",
        ]))?;
    }
    Ok(())
}

/// The files in `dir`.
fn list(dir: &Path) -> anyhow::Result<BTreeSet<PathBuf>> {
    let mut files = BTreeSet::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_file() {
            files.insert(path);
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn options_default_to_every_target_for_a_minute() {
        let o = FuzzOptions::parse(&[]).unwrap();
        assert_eq!(o.seconds, 60);
        assert_eq!(o.runs, None);
        assert_eq!(o.targets, TARGETS.map(String::from).to_vec());
    }

    #[test]
    fn options_parse_seconds_runs_and_targets() {
        let o = FuzzOptions::parse(&args(&["--seconds", "30", "egress_url"])).unwrap();
        assert_eq!((o.seconds, o.targets), (30, vec!["egress_url".to_owned()]));
        let o = FuzzOptions::parse(&args(&["--runs", "5000"])).unwrap();
        assert_eq!(o.runs, Some(5000));
        assert!(FuzzOptions::parse(&args(&["nope"])).is_err());
        assert!(FuzzOptions::parse(&args(&["--seconds"])).is_err());
        assert!(FuzzOptions::parse(&args(&["--seconds", "0"])).is_err());
    }

    #[test]
    fn every_target_has_a_source_and_seeds() {
        let fuzz = crate::root().join("fuzz");
        let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).unwrap();
        for target in TARGETS {
            assert!(
                manifest.contains(&format!("name = \"{target}\"")),
                "{target}"
            );
            let source = fuzz.join("fuzz_targets").join(format!("{target}.rs"));
            let text = std::fs::read_to_string(&source).unwrap();
            assert!(text.starts_with("//!"), "{}", source.display());
            // Only `seed_*` files are committed (fuzz/.gitignore); a bare `cargo fuzz run`
            // may have added others locally.
            let seeds: Vec<PathBuf> = list(&fuzz.join("corpus").join(target))
                .unwrap()
                .into_iter()
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("seed_"))
                })
                .collect();
            assert!(seeds.len() >= 3, "{target} has too few seeds");
            for seed in seeds {
                let size = std::fs::metadata(&seed).unwrap().len();
                assert!(size < 4096, "{} is {size} bytes", seed.display());
            }
        }
    }
}
