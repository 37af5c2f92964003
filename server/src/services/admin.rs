//! What the command line reads and checks on a database it opened itself (it has no
//! `Core`): members and their grants, tokens, the key inventory, the audit trail's anchors,
//! its verification, its witness and its export. Queries stay in `store`; the CLI calls these.

use crate::audit::checkpoint::Trust;
use crate::audit::witness::{Advance, AdvanceError, Witness};
use crate::audit::VerifyReport;
use crate::config::Settings;
use crate::crypto::Keyring;
use crate::store::audit::{AnchorRow, AuditFilter, AuditRow};
use crate::store::members::{GrantRow, MemberRow};
use crate::store::tokens::TokenRow;
use crate::store::{self, Store};
use sea_orm::DbErr;
use std::collections::BTreeMap;
use std::path::Path;

/// Opens the configured database with a small pool (the CLI does one thing at a time).
pub async fn connect(settings: &Settings, pool: u32) -> Result<Store, DbErr> {
    Store::connect(&settings.database.url, pool).await
}

/// Every member with their role grants.
pub async fn members_with_grants(
    store: &Store,
    ig: &crate::store::Integrity,
) -> Result<Vec<(MemberRow, Vec<GrantRow>)>, DbErr> {
    let mut out = Vec::new();
    for member in store::members::list(store.db(), ig).await? {
        let grants = store::members::grants(store.db(), ig, &member.id).await?;
        out.push((member, grants));
    }
    Ok(out)
}

/// Every service token (hashes only; a token's value is never stored).
pub async fn tokens(store: &Store, ig: &crate::store::Integrity) -> Result<Vec<TokenRow>, DbErr> {
    store::tokens::list(store.db(), ig).await
}

/// DEKs per KEK id, and the key check values the database holds.
pub async fn key_inventory(
    store: &Store,
) -> Result<(BTreeMap<String, i64>, BTreeMap<String, String>), DbErr> {
    Ok((
        store::deks::count_by_kek(store.db()).await?,
        store::deks::key_checks(store.db()).await?,
    ))
}

/// The retention anchors, oldest first.
pub async fn anchors(store: &Store) -> Result<Vec<AnchorRow>, DbErr> {
    store::audit::anchors(store.db()).await
}

/// Recomputes the whole chain and checks what `trust` names (see `audit::checkpoint`).
pub async fn verify_chain(
    store: &Store,
    trust: Option<Trust<'_>>,
    progress: impl FnMut(i64),
) -> Result<VerifyReport, DbErr> {
    crate::audit::checkpoint::verify_all(store.db(), trust, progress).await
}

/// Moves the witness file to the chain's signed head, if the chain still holds what it saw.
pub async fn advance_witness(
    store: &Store,
    keyring: &Keyring,
    path: &Path,
    known: Option<Witness>,
) -> Result<Advance, AdvanceError> {
    crate::audit::witness::advance(store.db(), keyring, path, known).await
}

/// The next `limit` events after `filter.after` that `filter` selects (the CLI's export runs
/// on the machine with the database; no role is asked).
pub async fn audit_page(
    store: &Store,
    filter: &AuditFilter,
    limit: u64,
) -> Result<Vec<AuditRow>, DbErr> {
    store::audit::search(store.db(), filter, limit).await
}

impl super::Core {
    /// Migrations the database still lacks.
    pub async fn pending_migrations(&self) -> Result<usize, DbErr> {
        self.store.pending_migrations().await
    }

    /// The events a retention run with `cutoff` would archive (first and last seq), if any:
    /// none that a forwarding destination has not yet delivered.
    pub async fn retention_plan(
        &self,
        cutoff: chrono::DateTime<chrono::Utc>,
        forwarders: &[String],
    ) -> Result<Option<(i64, i64)>, DbErr> {
        crate::audit::retention::plan(&self.store, cutoff, forwarders).await
    }
}
