//! Access expiry: every `access.expire_every_seconds`, records the end of each grant whose
//! window has passed and of each request left pending too long (`access.expire`, once each
//! across replicas). A grant stops working at its `expires_at` whether or not this has run:
//! every use checks the window itself.

use crate::services::Core;
use std::sync::Arc;

pub(super) fn spawn(core: &Arc<Core>) {
    let core = core.clone();
    tokio::spawn(async move {
        let period =
            std::time::Duration::from_secs(u64::from(core.settings.access.expire_every_seconds));
        let mut every = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match core.expire_access().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(requests = n, "access requests expired"),
                Err(err) => tracing::warn!(error = %err, "access expiry failed"),
            }
        }
    });
}
