//! Postgres `LISTEN`: a dedicated connection per channel that reconnects on its own.
//! `PgTaskSignal` wakes idle task runners on task inserts (`indox_tasks`); `listen` feeds
//! any other channel (e.g. `indox_jobs`, job completions) to a callback.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt as _;
use indox_jobs::TaskSignal;
use tokio::sync::Notify;

/// Listens on `channel` for as long as the runtime lives, calling `on` with each payload
/// and with `None` after every (re)connection (something may have been missed).
pub fn listen<F>(url: String, channel: &'static str, on: F)
where
    F: Fn(Option<String>) + Send + Sync + 'static,
{
    tokio::spawn(async move {
        loop {
            if let Err(e) = listen_once(&url, channel, &on).await {
                tracing::warn!(error = %e, channel, "listener lost its connection; reconnecting");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

async fn listen_once<F>(url: &str, channel: &str, on: &F) -> Result<(), String>
where
    F: Fn(Option<String>),
{
    let mut conn = AsyncPgConnection::establish(url)
        .await
        .map_err(|e| e.to_string())?;
    diesel::sql_query(format!("LISTEN {channel}"))
        .execute(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    on(None);
    let mut stream = std::pin::pin!(conn.notifications_stream());
    while let Some(n) = stream.next().await {
        let n = n.map_err(|e| e.to_string())?;
        on(Some(n.payload));
    }
    Ok(())
}

/// Wakes runners on task inserts.
#[derive(Debug, Clone)]
pub struct PgTaskSignal {
    notify: Arc<Notify>,
}

impl PgTaskSignal {
    /// Starts listening on the current runtime.
    pub fn start(url: String) -> Self {
        let notify = Arc::new(Notify::new());
        let n = notify.clone();
        // One permit per notification: one that arrives while nobody waits is not lost.
        listen(url, "indox_tasks", move |_| n.notify_one());
        Self { notify }
    }
}

#[async_trait]
impl TaskSignal for PgTaskSignal {
    async fn wait(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.notify.notified()).await;
    }
}
