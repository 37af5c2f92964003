//! Integrity violations: as soon as a request or a job meets a row whose MAC does not verify,
//! this loop records `integrity.violation` and queues the webhooks (see
//! `services::integrity`); the request itself went on, treating the row as absent.

use crate::services::Core;
use std::sync::Arc;

pub(super) fn spawn(core: &Arc<Core>) {
    let core = core.clone();
    tokio::spawn(async move {
        loop {
            core.integrity.reported().await;
            core.report_integrity_violations().await;
        }
    });
}
