//! Housekeeping: every ten minutes, expired sessions and login flows are removed (the first
//! purge waits a whole period: nothing has expired at start-up).

use crate::services::Core;
use std::sync::Arc;

pub(super) fn spawn(core: &Arc<Core>) {
    let core = core.clone();
    tokio::spawn(async move {
        let period = std::time::Duration::from_secs(600);
        let mut every = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            every.tick().await;
            if let Err(err) = core.purge_expired().await {
                tracing::warn!(error = %err, "housekeeping purge failed");
            }
        }
    });
}
