//! Audit retention: every hour (when `audit.retention_days` is set) archives and removes the
//! events older than the cutoff.

use crate::services::Core;
use std::sync::Arc;

pub(super) fn spawn(core: &Arc<Core>) {
    let days = core.settings.audit.retention_days;
    if days == 0 {
        return;
    }
    let retention = core.clone();
    tokio::spawn(async move {
        let period = std::time::Duration::from_secs(3600);
        let first = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut every = tokio::time::interval_at(first, period);
        loop {
            every.tick().await;
            let cutoff = crate::audit::retention::cutoff(days);
            if let Err(err) = retention
                .archive_audit(crate::services::tokens::SYSTEM_ACTOR, cutoff, |_| {})
                .await
            {
                tracing::error!(error = %err, "audit retention failed; nothing was removed");
            }
        }
    });
}
