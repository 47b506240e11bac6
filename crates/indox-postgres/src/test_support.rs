//! Test support: a fresh, migrated database per test, cloned from a template database.
//!
//! The template (`indox_tpl_<hash of migrations/>`) is built once per migration set and
//! reused by every later test process; building it is serialised across processes with a
//! Postgres advisory lock. Each [`TestDatabase`] is a `CREATE DATABASE ... TEMPLATE` copy,
//! dropped (with `FORCE`) when the value is dropped.

use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::models::CountRow;
use crate::{connect, migrate, PgConfig, PgError, PgStore};

/// The server used when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The advisory-lock key that serialises template builds across test processes.
const TEMPLATE_LOCK_KEY: i64 = 0x1d0c_7e57_0001;

/// How often a `CREATE`/`ALTER DATABASE` is retried while the source is still in use.
const BUSY_RETRIES: usize = 50;
const BUSY_WAIT: Duration = Duration::from_millis(100);

/// The template database's name, once this process has made sure it exists.
static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// A migrated database of its own for one test. Dropping it drops the database.
pub struct TestDatabase {
    /// The URL of the new database.
    pub url: String,
    name: String,
    admin_url: String,
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TestDatabase {
    /// Creates a fresh migrated database on the server named by `DATABASE_URL` (default
    /// [`DEFAULT_DATABASE_URL`]).
    ///
    /// # Panics
    /// When the database cannot be created: this is for tests, where that ends the test.
    pub async fn new() -> Self {
        match Self::try_new().await {
            Ok(db) => db,
            Err(e) => {
                panic!("cannot create a test database (is Postgres running at DATABASE_URL?): {e}")
            }
        }
    }

    /// Like [`TestDatabase::new`], returning the error instead of panicking.
    ///
    /// # Errors
    /// [`PgError`] when the server cannot be reached or the database cannot be created.
    pub async fn try_new() -> Result<Self, PgError> {
        let admin_url =
            std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned());
        let template = TEMPLATE
            .get_or_try_init(|| ensure_template(&admin_url))
            .await?
            .clone();
        let name = format!("indox_test_{}", Uuid::new_v4().simple());
        let url = with_database(&admin_url, &name)?;
        let mut admin = AsyncPgConnection::establish(&admin_url).await?;
        execute_when_free(
            &mut admin,
            &format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""),
        )
        .await?;
        Ok(Self {
            url,
            name,
            admin_url,
        })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A store on this database with a small pool.
    ///
    /// # Errors
    /// [`PgError`] when the pool cannot be built.
    pub async fn store(&self) -> Result<PgStore, PgError> {
        connect(PgConfig {
            url: self.url.clone(),
            max_connections: 8,
        })
        .await
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop may run inside a Tokio runtime, which cannot be blocked on: use a thread
        // with its own runtime, and wait for it so the database is gone when we return.
        let worker = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = AsyncPgConnection::establish(&admin_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    if let Err(e) = diesel::sql_query(sql).execute(&mut conn).await {
                        tracing::warn!(database = %name, error = %e, "could not drop a test database");
                    }
                }
            });
        });
        let _ = worker.join();
    }
}

/// Makes sure the template for the current migrations exists, building it if needed.
async fn ensure_template(admin_url: &str) -> Result<String, PgError> {
    let template = format!("indox_tpl_{:016x}", migrations_hash()?);
    let mut admin = AsyncPgConnection::establish(admin_url).await?;
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(TEMPLATE_LOCK_KEY)
        .execute(&mut admin)
        .await?;
    let built = build_template_if_missing(&mut admin, admin_url, &template).await;
    let unlocked = diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(TEMPLATE_LOCK_KEY)
        .execute(&mut admin)
        .await;
    built?;
    unlocked?;
    Ok(template)
}

async fn build_template_if_missing(
    admin: &mut AsyncPgConnection,
    admin_url: &str,
    template: &str,
) -> Result<(), PgError> {
    let exists: CountRow =
        diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
            .bind::<Text, _>(template)
            .get_result(admin)
            .await?;
    if exists.n > 0 {
        return Ok(());
    }
    // Build under another name and rename at the end, so a build that dies half-way never
    // leaves a half-migrated template behind.
    let building = format!("{template}_build");
    diesel::sql_query(format!(
        "DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"
    ))
    .execute(admin)
    .await?;
    diesel::sql_query(format!("CREATE DATABASE \"{building}\""))
        .execute(admin)
        .await?;
    migrate(&with_database(admin_url, &building)?).await?;
    execute_when_free(
        admin,
        &format!("ALTER DATABASE \"{building}\" RENAME TO \"{template}\""),
    )
    .await
}

/// Runs a statement that needs a database nobody is connected to, retrying while the
/// last connections (for example the migration's) are still closing.
async fn execute_when_free(admin: &mut AsyncPgConnection, sql: &str) -> Result<(), PgError> {
    let mut attempt = 0;
    loop {
        match diesel::sql_query(sql).execute(admin).await {
            Ok(_) => return Ok(()),
            Err(e)
                if attempt < BUSY_RETRIES
                    && e.to_string().contains("being accessed by other users") =>
            {
                attempt += 1;
                tokio::time::sleep(BUSY_WAIT).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// `url` pointing at database `name` instead (query parameters are kept).
fn with_database(url: &str, name: &str) -> Result<String, PgError> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).ok_or_else(|| {
        PgError::Config("DATABASE_URL must look like postgres://user@host/db".into())
    })?;
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{}", &base[..path_start], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    Ok(out)
}

/// A stable hash (64-bit FNV-1a) of every file under `migrations/`, names and contents.
fn migrations_hash() -> Result<u64, PgError> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    let mut files = Vec::new();
    collect_files(&dir, &mut files)?;
    files.sort();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes.iter().chain(std::iter::once(&0u8)) {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for file in files {
        let rel = file.strip_prefix(&dir).unwrap_or(&file);
        feed(rel.to_string_lossy().as_bytes());
        let bytes = std::fs::read(&file)
            .map_err(|e| PgError::Migration(format!("cannot read {}: {e}", file.display())))?;
        feed(&bytes);
    }
    Ok(hash)
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), PgError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| PgError::Migration(format!("cannot list {}: {e}", dir.display())))?;
    for entry in entries {
        let path = entry.map_err(|e| PgError::Migration(e.to_string()))?.path();
        if path.is_dir() {
            collect_files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_urls_are_rewritten() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "x").unwrap(),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h", "x").unwrap(),
            "postgres://u@h/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "x").unwrap(),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert!(with_database("nonsense", "x").is_err());
    }
}
