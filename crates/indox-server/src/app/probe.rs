//! Readiness probes: one per dependency the gateway cannot serve without.

use std::time::Duration;

use async_trait::async_trait;

/// A dependency that can say whether it answers.
#[async_trait]
pub trait Probe: Send + Sync {
    /// The dependency's name in the readiness report.
    fn name(&self) -> &'static str;
    /// `Ok` when it answers.
    async fn check(&self) -> Result<(), String>;
}

/// Runs every probe with a timeout; returns each name with its error, if any.
pub async fn check_all(
    probes: &[std::sync::Arc<dyn Probe>],
    timeout: Duration,
) -> Vec<(&'static str, Option<String>)> {
    let checks = probes.iter().map(|p| async move {
        let r = match tokio::time::timeout(timeout, p.check()).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some(format!("no answer within {} ms", timeout.as_millis())),
        };
        (p.name(), r)
    });
    futures_util::future::join_all(checks).await
}
