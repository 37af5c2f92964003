//! Anonymous denials: every minute, the minute's aggregated denials are written to the trail.

use crate::services::Core;
use std::sync::Arc;

pub(super) fn spawn(core: &Arc<Core>) {
    let aggregates = core.clone();
    tokio::spawn(async move {
        let period = std::time::Duration::from_secs(60);
        let mut every = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            every.tick().await;
            aggregates.flush_anonymous_denials(false).await;
        }
    });
}
