//! The `indox` binary: `serve`, `migrate`, and the `admin` commands.

use std::str::FromStr;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use indox_accounts::{AccountRepository, Authenticator};
use indox_core::AccountId;
use indox_server::{Application, Settings};
use rust_decimal::Decimal;
use tracing_subscriber::EnvFilter;

/// mimalloc: under load, glibc's malloc was a fifth of the gateway's CPU (measured with
/// `perf`), mostly in `_int_malloc` on the request path's short-lived buffers.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage:
  indox serve                         run the gateway (configured by environment variables; see .env.sample)
  indox migrate                       apply database migrations
  indox admin create-account --name NAME [--markup RATE]
  indox admin create-key --account ID [--label LABEL]
  indox admin top-up --account ID --amount USD [--note TEXT]
  indox admin revoke-key --key-id KEY_ID
  indox admin set-markup --account ID (--markup RATE | --default)
  indox admin dead-tasks [--limit N]  list background tasks that used up their attempts
  indox admin retry-task --id ID      put a dead task back in the queue";

fn init_logs(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// `--flag value` pairs after the subcommand.
struct Flags(Vec<String>);

impl Flags {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .position(|a| a == name)
            .and_then(|i| self.0.get(i + 1))
            .map(String::as_str)
    }
    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }
    fn required(&self, name: &str) -> anyhow::Result<&str> {
        self.get(name)
            .ok_or_else(|| anyhow!("missing {name}\n{USAGE}"))
    }
    fn account(&self) -> anyhow::Result<AccountId> {
        let raw = self.required("--account")?;
        AccountId::from_str(raw)
            .map_err(|_| anyhow!("--account {raw:?} is not an account id (a UUID)"))
    }
    fn decimal(&self, name: &str) -> anyhow::Result<Option<Decimal>> {
        self.get(name)
            .map(|v| {
                Decimal::from_str(v).map_err(|_| anyhow!("{name} {v:?} is not a decimal number"))
            })
            .transpose()
    }
}

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/indox".to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json_logs = std::env::var("INDOX_JSON_LOGS").is_ok_and(|v| v == "true");
    init_logs(json_logs);
    match args.first().map(String::as_str) {
        Some("serve") => serve().await,
        Some("migrate") => {
            indox_postgres::migrate(&database_url()).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Some("admin") => admin(args.get(1).map(String::as_str), Flags(args[2..].to_vec())).await,
        _ => {
            eprintln!("{USAGE}");
            bail!("unknown command")
        }
    }
}

async fn serve() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let app = Application::build(settings).await?;
    let handle = app.handle();
    tracing::info!(port = app.port(), "gateway listening");
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        handle.stop(true).await;
    });
    app.run_until_stopped().await.context("server error")
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[expect(
    clippy::print_stdout,
    reason = "the admin CLI prints its results for scripts to read"
)]
async fn admin(cmd: Option<&str>, flags: Flags) -> anyhow::Result<()> {
    let pg = indox_postgres::connect(indox_postgres::PgConfig {
        url: database_url(),
        max_connections: 2,
    })
    .await?;
    let queue: Arc<dyn indox_jobs::TaskQueue> = Arc::new(pg.clone());
    let repo: Arc<dyn AccountRepository> = Arc::new(pg);
    let auth = Authenticator::new(repo.clone());
    match cmd {
        Some("create-account") => {
            let name = flags.required("--name")?;
            let account = repo
                .create_account(name, flags.decimal("--markup")?)
                .await?;
            println!("ACCOUNT_ID={}", account.id);
        }
        Some("create-key") => {
            let account = flags.account()?;
            let key = auth
                .issue_key(account, flags.get("--label").unwrap_or(""))
                .await?;
            println!("KEY_ID={}", key.key_id());
            println!("API_KEY={}", key.plaintext());
        }
        Some("top-up") => {
            let account = flags.account()?;
            let amount = flags
                .decimal("--amount")?
                .ok_or_else(|| anyhow!("missing --amount\n{USAGE}"))?;
            let acct = auth
                .top_up(
                    account,
                    amount,
                    flags.get("--note").unwrap_or("admin top-up"),
                )
                .await?;
            println!("BALANCE={}", acct.balance);
        }
        Some("revoke-key") => {
            repo.revoke_key(flags.required("--key-id")?).await?;
            println!("REVOKED={}", flags.required("--key-id")?);
        }
        Some("set-markup") => {
            let account = flags.account()?;
            let rate = if flags.has("--default") {
                None
            } else {
                Some(
                    flags
                        .decimal("--markup")?
                        .ok_or_else(|| anyhow!("give --markup RATE or --default"))?,
                )
            };
            if let Some(r) = rate {
                indox_billing::quote::validate_markup(r)?;
            }
            let acct = repo.set_markup(account, rate).await?;
            println!(
                "MARKUP={}",
                acct.markup_rate
                    .map_or("default".to_owned(), |m| m.to_string())
            );
        }
        Some("dead-tasks") => {
            let limit = flags
                .get("--limit")
                .map(str::parse)
                .transpose()
                .map_err(|_| anyhow!("--limit takes a number"))?
                .unwrap_or(50);
            for t in queue.dead(limit).await? {
                println!(
                    "{}\t{}\tattempts={}\t{}\t{}",
                    t.id,
                    t.kind,
                    t.attempts,
                    t.last_error.unwrap_or_default(),
                    t.payload
                );
            }
        }
        Some("retry-task") => {
            let id: i64 = flags
                .required("--id")?
                .parse()
                .map_err(|_| anyhow!("--id takes a task id"))?;
            if queue.retry_dead(id).await? {
                println!("REQUEUED={id}");
            } else {
                bail!("no dead task with id {id}");
            }
        }
        _ => bail!("unknown admin command\n{USAGE}"),
    }
    Ok(())
}
