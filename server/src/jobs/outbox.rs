//! The notification outbox: every replica delivers queued escalation notices to the
//! `[[notify]]` webhooks (see `services::escalation`), woken by a new one or every second.

use crate::services::Core;
use std::sync::Arc;

pub(super) fn spawn(core: &Arc<Core>) {
    if core.notifier.hook_count() == 0 {
        return;
    }
    let outbox = core.clone();
    tokio::spawn(async move {
        loop {
            if let Err(err) = outbox.deliver_notifications().await {
                tracing::warn!(error = %err, "notification outbox round failed");
            }
            outbox.notifier.idle().await;
        }
    });
}
