//! Row integrity, the use cases: turning the violations the store met into
//! `integrity.violation` events and webhooks, scanning every covered row
//! (`keyward integrity check`, `doctor`), re-signing a row a security admin reviewed
//! (`keyward integrity attest`), and re-MAC'ing rows under a new KEK after `keys rotate`.

use super::tokens::{CLI_ACTOR, SYSTEM_ACTOR};
use super::Core;
use crate::audit::Event;
use crate::store::integrity::{self as repo, Pass, TableScan, Violation};
use crate::store::{new_id, Integrity, Store};
use sea_orm::DbErr;

impl Core {
    /// Records every violation met since the last call: one `integrity.violation` event each
    /// (table and row id, never a value), and one notification per `[[notify]]` webhook
    /// through the outbox, in the same transaction. The service keeps serving.
    pub async fn report_integrity_violations(&self) -> usize {
        let reports = self.integrity.take_reports();
        let mut recorded = 0;
        for Violation { table, id } in reports {
            let result = async {
                let tx = self.store.begin_write().await?;
                let event = Event::new(SYSTEM_ACTOR, "integrity.violation")
                    .target(format!("{table}:{id}"))
                    .outcome(crate::audit::Outcome::Failure)
                    .details(serde_json::json!({ "table": table, "row": id }));
                crate::audit::append(&*tx, event).await?;
                let body = serde_json::json!({
                    "event": "integrity.violation",
                    "table": table,
                    "row": id,
                    "url": format!(
                        "{}/audit?action=integrity.violation",
                        self.settings.public_url.trim_end_matches('/')
                    ),
                })
                .to_string();
                let notice = new_id();
                for hook in &self.notifier.hooks {
                    let until = crate::store::now() + hook.lease();
                    crate::store::notifications::enqueue(
                        &*tx,
                        &self.integrity,
                        &notice,
                        &hook.id,
                        &body,
                        &self.notifier.owner,
                        until,
                    )
                    .await?;
                }
                tx.commit().await
            }
            .await;
            match result {
                Ok(()) => recorded += 1,
                Err(err) => {
                    tracing::error!(table, row = %id, error = %err, "could not record an integrity violation")
                }
            }
        }
        if recorded > 0 {
            self.notifier.wake.notify_one();
        }
        recorded
    }
}

/// Scans every covered row; lists the ones whose MAC does not verify.
pub async fn check(store: &Store, ig: &Integrity) -> Result<Vec<TableScan>, DbErr> {
    repo::scan_all(store.db(), ig, Pass::Check).await
}

/// A covered row as stored, for review (its MAC left out, sealed blobs by size).
pub async fn describe(
    store: &Store,
    table: &str,
    id: &str,
) -> Result<Option<serde_json::Value>, DbErr> {
    repo::describe(store.db(), table, id).await
}

/// Why a row could not be attested.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    #[error("unknown table {0}; covered tables are: {tables}", tables = repo::TABLES.join(", "))]
    UnknownTable(String),
    #[error("no row {id} in {table}")]
    NoSuchRow { table: String, id: String },
    #[error("a justification of 1 to 500 characters is required")]
    Justification,
    #[error(transparent)]
    Storage(#[from] DbErr),
}

/// Re-signs one row a security admin reviewed, with `integrity.attest` (table, row id, the
/// justification) in the same transaction.
pub async fn attest(
    store: &Store,
    ig: &Integrity,
    table: &str,
    id: &str,
    justification: &str,
) -> Result<(), AttestError> {
    let justification = justification.trim();
    if justification.is_empty() || justification.chars().count() > 500 {
        return Err(AttestError::Justification);
    }
    let Some(table) = repo::TABLES.iter().find(|t| **t == table) else {
        return Err(AttestError::UnknownTable(table.to_owned()));
    };
    let tx = store.begin_write().await?;
    if !repo::attest(&*tx, ig, table, id).await? {
        return Err(AttestError::NoSuchRow {
            table: (*table).to_owned(),
            id: id.to_owned(),
        });
    }
    let event = Event::new(CLI_ACTOR, "integrity.attest")
        .target(format!("{table}:{id}"))
        .details(serde_json::json!({ "table": table, "row": id, "justification": justification }));
    crate::audit::append(&*tx, event).await?;
    tx.commit().await?;
    Ok(())
}

/// Re-MACs every row that verifies under an older KEK with the active one (after
/// `keys rotate`); returns how many, audited as `integrity.rekey`.
pub async fn rekey(store: &Store, ig: &Integrity) -> Result<u64, DbErr> {
    let tx = store.begin_write().await?;
    let scans = repo::scan_all(&*tx, ig, Pass::Rotate).await?;
    let signed: u64 = scans.iter().map(|s| s.signed).sum();
    if signed > 0 {
        let event =
            Event::new(CLI_ACTOR, "integrity.rekey").details(serde_json::json!({ "rows": signed }));
        crate::audit::append(&*tx, event).await?;
    }
    tx.commit().await?;
    Ok(signed)
}

/// What signs and checks rows for a command that loaded the keyring itself.
pub fn signer(keyring: std::sync::Arc<crate::crypto::Keyring>) -> Integrity {
    Integrity::new(keyring)
}

/// Whether a storage error is a write refused because the row it would change does not
/// verify (answered 403 `integrity_violation`, never a 5xx).
pub fn is_tampered(err: &DbErr) -> bool {
    repo::is_tampered(err)
}

/// What applying the migrations did about row MACs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Adoption {
    /// The migration that adds MACs was not among those applied (or the database was empty).
    Nothing,
    /// The rows that existed were MAC'ed (`integrity.backfill`).
    Signed(u64),
    /// The key file is not at hand: the rows that exist got no MAC.
    NoKeys,
    /// Refused: the database does not look like one that never had MACs.
    Refused(&'static str),
}

/// Applies the pending migrations. When this run applies the one that adds row MACs to a
/// database that never had them, the rows that exist then are MAC'ed, in one transaction with
/// `integrity.backfill`: they are the database as it was trusted until now. Never on a
/// database that shows signs of having had MACs (a later migration applied, a row with a MAC,
/// an earlier `integrity.backfill`): someone who removed the MAC columns and the migration's
/// record to have planted rows signed gets nothing signed.
pub async fn migrate(store: &Store, ig: Option<&Integrity>) -> Result<(usize, Adoption), DbErr> {
    let (pending, applied) = store.migration_names().await?;
    let adds_macs = pending.iter().any(|m| m == migration::ROW_INTEGRITY);
    let later_applied = applied
        .iter()
        .any(|m| m.as_str() > migration::ROW_INTEGRITY);
    store.migrate().await?;
    if !adds_macs {
        return Ok((pending.len(), Adoption::Nothing));
    }
    let blind = Integrity::without_keys();
    let scans = repo::scan_all(store.db(), &blind, Pass::Check).await?;
    let rows: u64 = scans.iter().map(|s| s.rows).sum();
    if rows == 0 {
        return Ok((pending.len(), Adoption::Nothing));
    }
    let Some(ig) = ig else {
        return Ok((pending.len(), Adoption::NoKeys));
    };
    let refused = if later_applied {
        Some("a later migration was applied before the one that adds row MACs")
    } else if scans.iter().any(|s| s.with_mac > 0) {
        Some("some rows carry a MAC already")
    } else if !crate::store::audit::search(store.db(), &backfill_filter(), 1)
        .await?
        .is_empty()
    {
        Some("the rows were MAC'ed before (integrity.backfill is in the audit trail)")
    } else {
        None
    };
    if let Some(why) = refused {
        tracing::error!(reason = why, "row integrity: the rows without a MAC were NOT signed; review them with `keyward integrity check` and attest each");
        return Ok((pending.len(), Adoption::Refused(why)));
    }
    let tx = store.begin_write().await?;
    let scans = repo::scan_all(&*tx, ig, Pass::SignMissing).await?;
    let signed: u64 = scans.iter().map(|s| s.signed).sum();
    let per_table: serde_json::Map<String, serde_json::Value> = scans
        .iter()
        .filter(|s| s.signed > 0)
        .map(|s| (s.table.to_owned(), s.signed.into()))
        .collect();
    let event = Event::new(SYSTEM_ACTOR, "integrity.backfill")
        .details(serde_json::json!({ "rows": signed, "tables": per_table }));
    crate::audit::append(&*tx, event).await?;
    tx.commit().await?;
    Ok((pending.len(), Adoption::Signed(signed)))
}

fn backfill_filter() -> crate::store::audit::AuditFilter {
    crate::store::audit::AuditFilter {
        after: 0,
        actor: None,
        target: None,
        action: Some("integrity.backfill".to_owned()),
        outcome: None,
        since: None,
        until: None,
    }
}
