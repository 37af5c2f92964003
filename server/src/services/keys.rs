//! Key rotation: re-wrap every DEK under the active KEK, in batches that each commit,
//! so an interrupted run resumes where it stopped. Values are never re-encrypted.

use crate::audit::Event;
use crate::crypto::{CryptoError, Keyring};
use crate::store::deks::{self as repo, DekTable};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("storage error: {0}")]
    Storage(#[from] sea_orm::DbErr),
}

/// Counts after a re-wrap run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RewrapReport {
    pub rewrapped: u64,
    pub remaining: u64,
}

/// Re-wraps DEKs not yet under the active KEK; `progress(done, total)` after each batch.
pub async fn rewrap_all(
    store: &Store,
    keyring: &Keyring,
    batch: u64,
    mut progress: impl FnMut(u64, u64),
) -> Result<RewrapReport, RotateError> {
    let active = keyring.active_id();
    let total = not_wrapped_by(store, &active).await?;
    let mut done = 0;
    progress(0, total);
    for table in DekTable::ALL {
        loop {
            let rows = repo::batch_not_wrapped_by(store.db(), table, &active, batch.max(1)).await?;
            if rows.is_empty() {
                break;
            }
            let tx = store.begin_write().await?;
            let mut in_batch = 0;
            for row in &rows {
                let (wrapped, kek_id) =
                    keyring.rewrap(&row.owner_id, &row.wrapped_dek, &row.kek_id)?;
                if repo::set_wrapped_dek(&*tx, table, &row.owner_id, &row.kek_id, wrapped, &kek_id)
                    .await?
                {
                    in_batch += 1;
                }
            }
            let event = Event::new(super::tokens::CLI_ACTOR, "keys.rewrap")
                .details(serde_json::json!({ "kek_id": active, "rewrapped": in_batch }));
            crate::audit::append(&*tx, event).await?;
            tx.commit().await?;
            done += in_batch;
            progress(done, total.max(done));
        }
    }
    let remaining = not_wrapped_by(store, &active).await?;
    Ok(RewrapReport {
        rewrapped: done,
        remaining,
    })
}

async fn not_wrapped_by(store: &Store, active: &str) -> Result<u64, sea_orm::DbErr> {
    let mut n = 0;
    for table in DekTable::ALL {
        n += repo::count_not_wrapped_by(store.db(), table, active).await?;
    }
    Ok(n)
}

/// Records that a new KEK was added to the key file.
pub async fn record_rotation(store: &Store, new_kek: &str) -> Result<(), sea_orm::DbErr> {
    let tx = store.begin_write().await?;
    let event = Event::new(super::tokens::CLI_ACTOR, "keys.rotate")
        .details(serde_json::json!({ "active_kek_id": new_kek }));
    crate::audit::append(&*tx, event).await?;
    tx.commit().await
}
