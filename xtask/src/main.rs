//! Project automation entry point; see `cargo xtask help`.

fn main() -> anyhow::Result<()> {
    anyhow::bail!("xtask is being written")
}
