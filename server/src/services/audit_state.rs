//! How far the audit chain is known to be intact, in memory: the last good verification, the
//! newest witnessed head and the last full recomputation.

use crate::audit::witness::Witness;
use crate::audit::{ChainPoint, VerifyReport};

pub(crate) type Mark = (ChainPoint, i64);
pub(crate) type FullRun = (chrono::DateTime<chrono::Utc>, VerifyReport);

pub(crate) fn locked<T: Clone>(lock: &std::sync::Mutex<T>) -> T {
    match lock.lock() {
        Ok(guard) => guard.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

pub(crate) fn replace<T>(lock: &std::sync::Mutex<T>, value: T) {
    match lock.lock() {
        Ok(mut guard) => *guard = value,
        Err(poisoned) => *poisoned.into_inner() = value,
    }
}

/// How far the chain is known to be intact, in memory. Each part has its own short lock, held
/// only to read or replace it — never across a recomputation, so a long verification never
/// holds up the witness.
#[derive(Default)]
pub struct AuditState {
    /// The newest event verified, and the newest checkpoint checked, by the last good run.
    pub(crate) mark: std::sync::Mutex<Option<Mark>>,
    /// The newest head written to the witness file (the witness loop alone moves it).
    pub(crate) witnessed: tokio::sync::Mutex<Option<Witness>>,
    /// When the whole chain was last recomputed, and what that found.
    pub(crate) last_full: std::sync::Mutex<Option<FullRun>>,
}

impl AuditState {
    pub(crate) fn remember(&self, report: &VerifyReport, checkpoints_through: i64) {
        if report.ok {
            let point = ChainPoint {
                seq: report.head_seq,
                hash: report.head.clone(),
            };
            replace(&self.mark, Some((point, checkpoints_through)));
        }
    }
}
