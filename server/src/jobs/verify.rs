//! Full verification: every `audit.verify_every_minutes` recomputes the whole chain and logs a
//! break loudly.

use crate::services::Core;
use std::sync::Arc;

pub(super) fn spawn(core: &Arc<Core>) {
    let minutes = core.settings.audit.verify_every_minutes;
    if minutes == 0 {
        return;
    }
    let verifier = core.clone();
    tokio::spawn(async move {
        let period = std::time::Duration::from_secs(60 * u64::from(minutes));
        let first = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut every = tokio::time::interval_at(first, period);
        loop {
            every.tick().await;
            match verifier.verify_audit_fully().await {
                Ok(report) if report.ok => {
                    tracing::info!(head_seq = report.head_seq, "audit chain verified")
                }
                Ok(report) => tracing::error!(
                    first_bad_seq = report.first_bad_seq,
                    reason = report.reason.as_deref().unwrap_or(""),
                    "AUDIT CHAIN BROKEN; run `keyward audit verify`"
                ),
                Err(err) => tracing::warn!(error = %err, "audit verification failed"),
            }
        }
    });
}
