//! The background loops every replica runs, one per file; each calls services and logs what
//! failed, and none holds anything another replica needs (leases live in the database).

mod access;
mod anonymous;
mod escalation;
mod forward;
mod idle;
mod idp_clock;
mod integrity;
mod outbox;
mod purge;
mod retention;
mod verify;
mod witness;

use crate::services::Core;
use std::sync::Arc;

/// Starts every background loop. A SIEM destination that cannot be set up stops start-up
/// rather than silently not forwarding.
pub fn spawn_all(core: &Arc<Core>) -> anyhow::Result<()> {
    forward::spawn(core)?;
    retention::spawn(core);
    witness::spawn(core);
    verify::spawn(core);
    outbox::spawn(core);
    escalation::spawn(core);
    access::spawn(core);
    idp_clock::spawn(core);
    idle::spawn(core);
    anonymous::spawn(core);
    purge::spawn(core);
    integrity::spawn(core);
    Ok(())
}
