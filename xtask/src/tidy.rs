//! `cargo xtask tidy`: architecture checks that are also a test.
//!
//! - the dependency rule: domain crates depend on no adapter, web, database, cache, storage
//!   or HTTP-client crate;
//! - every `.rs` file starts with a `//!` header (or `#![doc = include_str!(..)]`);
//! - every crate has a README.md, uses the workspace lints, and its directory is its name.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};

/// Crates that must stay free of IO.
pub const DOMAIN_CRATES: [&str; 10] = [
    "indox-core",
    "indox-accounts",
    "indox-billing",
    "indox-ratelimit",
    "indox-retention",
    "indox-jobs",
    "indox-idempotency",
    "indox-voice",
    "indox-audio",
    "indox-webhooks",
];

/// What no domain crate may depend on (directly; internal crates are checked themselves).
pub const FORBIDDEN: [&str; 16] = [
    "actix-web",
    "actix-rt",
    "diesel",
    "diesel-async",
    "diesel_migrations",
    "tokio-postgres",
    "reqwest",
    "hyper",
    "redis",
    "deadpool-redis",
    "rust-s3",
    "indox-postgres",
    "indox-redis",
    "indox-s3",
    "indox-resemble",
    "indox-server",
];

/// Runs every check and fails with the full list of problems.
pub fn run(root: &Path) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    dependency_rule(root, &mut problems)?;
    headers(&root.join("crates"), &mut problems)?;
    headers(&root.join("xtask"), &mut problems)?;
    crates(root, &mut problems)?;
    if !problems.is_empty() {
        bail!(
            "tidy found {} problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    Ok(())
}

fn dependency_rule(root: &Path, problems: &mut Vec<String>) -> anyhow::Result<()> {
    let out = Command::new(env!("CARGO"))
        .current_dir(root)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let packages = meta["packages"]
        .as_array()
        .context("cargo metadata without packages")?;
    for p in packages {
        let name = p["name"].as_str().unwrap_or_default();
        if !DOMAIN_CRATES.contains(&name) {
            continue;
        }
        for d in p["dependencies"].as_array().into_iter().flatten() {
            let dep = d["name"].as_str().unwrap_or_default();
            let normal = d["kind"].is_null();
            if normal && (FORBIDDEN.contains(&dep) || dep.starts_with("actix")) {
                problems.push(format!(
                    "dependency rule: domain crate {name} depends on {dep}"
                ));
            }
        }
    }
    Ok(())
}

fn headers(dir: &Path, problems: &mut Vec<String>) -> anyhow::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                headers(&path, problems)?;
            }
        } else if name.ends_with(".rs") {
            let text = std::fs::read_to_string(&path)?;
            let first = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or_default();
            if !(first.starts_with("//!") || first.starts_with("#![doc")) {
                problems.push(format!(
                    "{}: the first line must be a `//!` comment saying what the module is for",
                    path.display()
                ));
            }
        }
    }
    Ok(())
}

fn crates(root: &Path, problems: &mut Vec<String>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(root.join("crates"))? {
        let dir = entry?.path();
        if !dir.is_dir() {
            continue;
        }
        let dir_name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))
            .with_context(|| format!("{dir_name}: no Cargo.toml"))?;
        if !manifest.contains(&format!("name = \"{dir_name}\"")) {
            problems.push(format!(
                "crates/{dir_name}: the package name must equal the directory name"
            ));
        }
        if !dir_name.starts_with("indox-") {
            problems.push(format!(
                "crates/{dir_name}: package names start with `indox-`"
            ));
        }
        if !manifest.contains("[lints]\nworkspace = true") {
            problems.push(format!("crates/{dir_name}: add `[lints] workspace = true`"));
        }
        if !dir.join("README.md").exists() {
            problems.push(format!(
                "crates/{dir_name}: add a README.md (it is the crate's rustdoc)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn tidy() {
        super::run(&crate::root()).unwrap();
    }
}
