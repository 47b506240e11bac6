//! The `indox` binary: `serve`, `migrate`, and the `admin` commands.

use std::str::FromStr;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use indox_accounts::AccountRepository;
use indox_core::AccountId;
use indox_server::app::admin::Admin;
use indox_server::{Application, Settings};

/// mimalloc: under load, glibc's malloc was a fifth of the gateway's CPU (measured with
/// `perf`), mostly in `_int_malloc` on the request path's short-lived buffers.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage:
  indox serve                         run the gateway (configured by environment variables; see .env.sample)
  indox migrate                       apply database migrations
  indox openapi                       print the OpenAPI 3.1 document (docs/openapi.json)
  indox admin create-account --name NAME [--markup RATE]
  indox admin create-key --account ID [--label LABEL]
  indox admin top-up --account ID --amount USD [--reference REF] [--note TEXT]
  indox admin revoke-key --key-id KEY_ID
  indox admin set-markup --account ID (--markup RATE | --default)
  indox admin dead-tasks [--limit N]  list background tasks that used up their attempts
  indox admin retry-task --id ID      put a dead task back in the queue
  indox admin reconcile --from YYYY-MM-DD [--to YYYY-MM-DD]
                                      compare our usage with Resemble's report, day by day;
                                      exits non-zero on drift beyond ±1 % or a failed day";

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
}

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/indox".to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Logs (JSON with INDOX_JSON_LOGS=true) and, with OTEL_EXPORTER_OTLP_ENDPOINT, traces.
    let telemetry =
        indox_server::telemetry::init(&indox_server::telemetry::TelemetryConfig::from_env())?;
    let result = run(args).await;
    telemetry.shutdown().await;
    result
}

async fn run(args: Vec<String>) -> anyhow::Result<()> {
    match args.first().map(String::as_str) {
        Some("serve") => serve().await,
        Some("migrate") => {
            indox_postgres::migrate(&database_url()).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Some("openapi") => {
            // The document on stdout, for `cargo xtask openapi` and CI.
            use std::io::Write as _;
            std::io::stdout().write_all(indox_server::http::openapi::json().as_bytes())?;
            Ok(())
        }
        Some("admin") => {
            admin(
                args.get(1).map(String::as_str),
                Flags(args.get(2..).unwrap_or_default().to_vec()),
            )
            .await
        }
        _ => {
            eprintln!("{USAGE}");
            bail!("unknown command")
        }
    }
}

async fn serve() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let app = Application::build(settings).await?;
    let shutdown = app.shutdown();
    tracing::info!(port = app.port(), "gateway listening");
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!(
            "shutting down: draining, then finishing in-flight requests and the task in hand"
        );
        shutdown.begin().await;
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
    let reconciliations: Arc<dyn indox_billing::reconcile::ReconciliationStore> =
        Arc::new(pg.clone());
    let repo: Arc<dyn AccountRepository> = Arc::new(pg);
    // The same use cases as the admin HTTP API (validation, logging).
    let admin = Admin::new(repo, queue);
    match cmd {
        Some("create-account") => {
            let account = admin
                .create_account(flags.required("--name")?, flags.get("--markup"))
                .await?;
            println!("ACCOUNT_ID={}", account.account.id);
        }
        Some("create-key") => {
            let key = admin
                .create_key(flags.account()?, flags.get("--label"))
                .await?;
            println!("KEY_ID={}", key.key_id);
            println!("API_KEY={}", key.api_key);
        }
        Some("top-up") => {
            let result = admin
                .top_up(
                    flags.account()?,
                    flags.required("--amount")?,
                    flags.get("--reference"),
                    flags.get("--note"),
                )
                .await?;
            println!("BALANCE={}", result.balance);
            if result.replayed {
                println!("REPLAYED=true");
            }
        }
        Some("revoke-key") => {
            let key_id = flags.required("--key-id")?;
            admin.revoke_key(key_id).await?;
            println!("REVOKED={key_id}");
        }
        Some("set-markup") => {
            let rate = if flags.has("--default") {
                None
            } else {
                Some(
                    flags
                        .get("--markup")
                        .ok_or_else(|| anyhow!("give --markup RATE or --default"))?,
                )
            };
            let acct = admin.set_markup(flags.account()?, rate).await?;
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
                .map_err(|_| anyhow!("--limit takes a number"))?;
            for t in admin.dead_tasks(limit).await? {
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
            admin.retry_task(id).await?;
            println!("REQUEUED={id}");
        }
        Some("reconcile") => reconcile(&flags, reconciliations).await?,
        _ => bail!("unknown admin command\n{USAGE}"),
    }
    Ok(())
}

/// `indox admin reconcile --from YYYY-MM-DD [--to YYYY-MM-DD]`: one run per day (RC1–RC9 in
/// `docs/decisions.md`), one printed line per unit per day; fails when a unit drifted beyond
/// ±1 % or a day could not be compared.
#[expect(
    clippy::print_stdout,
    reason = "the admin CLI prints its results for scripts to read"
)]
async fn reconcile(
    flags: &Flags,
    store: Arc<dyn indox_billing::reconcile::ReconciliationStore>,
) -> anyhow::Result<()> {
    let date = |name: &str, raw: &str| {
        chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .map_err(|_| anyhow!("{name} {raw:?} is not a date (YYYY-MM-DD)"))
    };
    let from = date("--from", flags.required("--from")?)?;
    let to = match flags.get("--to") {
        Some(raw) => date("--to", raw)?,
        None => from,
    };
    let settings = Settings::from_env()?;
    let book = match &settings.price_book_path {
        Some(path) => indox_billing::PriceBook::from_json(
            &std::fs::read_to_string(path)
                .with_context(|| format!("reading the price book {path}"))?,
        )?,
        None => indox_billing::PriceBook::resemble_default(),
    };
    let reconciler = indox_server::app::reconcile::Reconciler {
        upstream: Arc::new(
            indox_resemble::ResembleClient::new(settings.resemble.clone())
                .context("configuring the Resemble client")?,
        ),
        store,
        book,
        clock: Arc::new(indox_core::SystemClock),
    };
    let reports = reconciler
        .run_range(from, to)
        .await
        .map_err(|e| anyhow!(e))?;
    let (mut alerts, mut failed) = (0usize, 0usize);
    for r in &reports {
        if let Some(error) = &r.error {
            failed += 1;
            println!("{}\tFAILED\trun={}\t{error}", r.day, r.run_id);
            continue;
        }
        for l in &r.comparison.lines {
            alerts += usize::from(l.alert);
            println!(
                "{}\t{}\tours={}\ttheirs={}\tdrift={}\t{}{}",
                r.day,
                l.upstream_unit,
                l.ours,
                l.theirs,
                l.drift
                    .map_or_else(|| "undefined".to_owned(), |d| d.to_string()),
                if l.alert { "ALERT" } else { "ok" },
                if l.partial { "\tpartial" } else { "" },
            );
        }
        for n in &r.comparison.not_comparable {
            println!(
                "{}\t{}\tnot_comparable\tcapability={}\tunit={}\tquantity={}\trows={}",
                r.day,
                n.upstream_unit.as_deref().unwrap_or("-"),
                n.capability,
                n.unit,
                n.quantity,
                n.rows,
            );
        }
    }
    if alerts > 0 || failed > 0 {
        bail!("{alerts} unit-day(s) drifted beyond ±1 %, {failed} day(s) could not be compared");
    }
    Ok(())
}
