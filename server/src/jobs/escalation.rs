//! Escalation: every `rotation.escalation_every_minutes` (first a minute after start) claims
//! the overdue rotation tasks and queues their notices.

use crate::services::Core;
use std::sync::Arc;

pub(super) fn spawn(core: &Arc<Core>) {
    let escalation = core.clone();
    tokio::spawn(async move {
        let period = std::time::Duration::from_secs(
            60 * u64::from(escalation.settings.rotation.escalation_every_minutes),
        );
        let first = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut every = tokio::time::interval_at(first, period);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match escalation.escalate_overdue().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(tasks = n, "overdue rotation tasks escalated"),
                Err(err) => tracing::warn!(error = %err, "rotation escalation failed"),
            }
        }
    });
}
