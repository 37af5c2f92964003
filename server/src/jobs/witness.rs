//! The audit witness: every `audit.witness_seconds` moves the witness file to the chain head,
//! and signs a database checkpoint when one is due (looked at every 30 seconds).

use crate::services::Core;
use std::sync::Arc;

pub(super) fn spawn(core: &Arc<Core>) {
    let witness = core.clone();
    tokio::spawn(async move {
        // The first round runs at once: events appended while no server ran get witnessed.
        let period =
            std::time::Duration::from_secs(u64::from(witness.settings.audit.witness_seconds));
        let mut every = tokio::time::interval(period);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let checkpoints = std::time::Duration::from_secs(30);
        let mut next_checkpoint = tokio::time::Instant::now() + checkpoints;
        loop {
            every.tick().await;
            if let Err(err) = witness.witness_audit().await {
                tracing::warn!(error = %err, "audit witness failed");
            }
            if tokio::time::Instant::now() >= next_checkpoint {
                next_checkpoint += checkpoints;
                if let Err(err) = witness.checkpoint_audit().await {
                    tracing::warn!(error = %err, "audit checkpoint failed");
                }
            }
        }
    });
}
