//! `TaskSignal` over Postgres `LISTEN indox_tasks`: a dedicated connection hears every task
//! insert (the `tasks_notify_insert` trigger) and wakes one idle runner.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt as _;
use indox_jobs::TaskSignal;
use tokio::sync::Notify;

/// Wakes runners on task inserts; reconnects on its own when the connection drops.
#[derive(Debug, Clone)]
pub struct PgTaskSignal {
    notify: Arc<Notify>,
}

impl PgTaskSignal {
    /// Starts listening on the current runtime.
    pub fn start(url: String) -> Self {
        let notify = Arc::new(Notify::new());
        let n = notify.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = listen(&url, &n).await {
                    tracing::warn!(error = %e, "task listener lost its connection; reconnecting");
                }
                // Whatever happened meanwhile, let a runner look at the queue once.
                n.notify_one();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        Self { notify }
    }
}

async fn listen(url: &str, notify: &Notify) -> Result<(), diesel::result::Error> {
    let mut conn = AsyncPgConnection::establish(url).await.map_err(|e| {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UnableToSendCommand,
            Box::new(e.to_string()),
        )
    })?;
    diesel::sql_query("LISTEN indox_tasks")
        .execute(&mut conn)
        .await?;
    let mut stream = std::pin::pin!(conn.notifications_stream());
    while let Some(n) = stream.next().await {
        n?;
        // One permit: a notification that arrives while nobody waits is not lost.
        notify.notify_one();
    }
    Ok(())
}

#[async_trait]
impl TaskSignal for PgTaskSignal {
    async fn wait(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.notify.notified()).await;
    }
}
