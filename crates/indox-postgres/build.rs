//! Rebuilds the crate when a migration changes: `embed_migrations!` reads `migrations/` at
//! compile time, and a proc macro cannot tell cargo to watch a directory.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
