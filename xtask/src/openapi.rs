//! `cargo xtask openapi`: writes the OpenAPI document generated from the code
//! (`indox openapi`, i.e. `indox_server::http::openapi::document()`) to `docs/openapi.json`,
//! committed so that API changes show in diffs; `--check` fails when the committed file
//! differs from a fresh one. CI runs the same comparison as a test of the gateway crate
//! (`http::openapi::tests::the_committed_document_is_current`), which needs no extra build.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};

use crate::services::output;

/// Where the document is committed.
pub const PATH: &str = "docs/openapi.json";

/// The document the current code generates.
pub fn generate(root: &Path) -> anyhow::Result<String> {
    output(Command::new("cargo").current_dir(root).args([
        "run",
        "--quiet",
        "--locked",
        "-p",
        "indox-server",
        "--bin",
        "indox",
        "--",
        "openapi",
    ]))
}

/// `cargo xtask openapi [--check]`.
pub fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let fresh = generate(root)?;
    let path = root.join(PATH);
    if args.iter().any(|a| a == "--check") {
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != fresh {
            bail!(
                "{PATH} is not the document the code generates: run `cargo xtask openapi` and commit it"
            );
        }
        eprintln!("{PATH} matches the code");
        return Ok(());
    }
    std::fs::write(&path, fresh).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {PATH}");
    Ok(())
}
