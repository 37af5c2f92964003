//! Running totals of group commits, shared by the pool's batches and SQLite's writer thread.

use std::sync::atomic::AtomicUsize;

/// Running totals of group commits.
#[derive(Default)]
pub struct Stats {
    /// Batches committed.
    pub batches: AtomicUsize,
    /// Units committed in them.
    pub units: AtomicUsize,
    /// Batches whose commit failed (every unit in them failed).
    pub failed_batches: AtomicUsize,
}
