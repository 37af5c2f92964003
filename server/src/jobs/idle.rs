//! Idle members: every hour (when `offboarding.idle_departure_days` is set) a member who has
//! not signed in for that many days gets a review on the Members page.

use crate::services::Core;
use std::sync::Arc;

pub(super) fn spawn(core: &Arc<Core>) {
    if core.settings.offboarding.idle_departure_days == 0 {
        return;
    }
    let core = core.clone();
    tokio::spawn(async move {
        let first = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut every = tokio::time::interval_at(first, std::time::Duration::from_secs(3600));
        loop {
            every.tick().await;
            match core.open_idle_reviews().await {
                Ok(0) => {}
                Ok(opened) => tracing::info!(opened, "idle members: reviews opened"),
                Err(err) => tracing::error!(error = %err, "idle members: the check failed"),
            }
        }
    });
}
