//! The keyring against the database: key check values (a key file with the right ids but other
//! material is refused before anything is written), and key rotation, which re-wraps every DEK
//! under the active KEK in batches that each commit (an interrupted run resumes where it
//! stopped). Values are never re-encrypted.

use crate::audit::Event;
use crate::crypto::{CryptoError, Keyring, ROOT_KEY_ID};
use crate::store::deks::{self as repo, DekTable};
use crate::store::Store;
use std::collections::BTreeMap;

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

/// Proves every key held against the database and hands the keyring the recorded check
/// values, so it writes only under keys the database vouches for. A key seen for the first
/// time is proven against data already written under it (a DEK it must unwrap; for the root
/// key, the signed audit checkpoints), then recorded, with an audit event, in one
/// transaction. Fails naming the first key whose material differs.
pub async fn prove(store: &Store, keyring: &Keyring) -> Result<(), RotateError> {
    let held = keyring.key_checks();
    let recorded = repo::key_checks(store.db()).await?;
    let mut new = Vec::new();
    for (id, value) in &held {
        match recorded.get(id) {
            Some(known) if known == value => {}
            Some(_) => return Err(CryptoError::KeyMismatch(id.clone()).into()),
            None => {
                if !matches_written_data(store, keyring, id).await? {
                    return Err(CryptoError::KeyMismatch(id.clone()).into());
                }
                new.push(id.clone());
            }
        }
    }
    let recorded = if new.is_empty() {
        recorded
    } else {
        record(store, &held, &new).await?
    };
    if let Some(id) = held
        .iter()
        .find(|(id, value)| recorded.get(*id) != Some(*value))
        .map(|(id, _)| id.clone())
    {
        // Another process recorded other material for this id first.
        return Err(CryptoError::KeyMismatch(id).into());
    }
    keyring.accept_checks(recorded);
    Ok(())
}

/// Whether the key `id` opens what was written under it before its check value existed.
async fn matches_written_data(
    store: &Store,
    keyring: &Keyring,
    id: &str,
) -> Result<bool, RotateError> {
    if id == ROOT_KEY_ID {
        // The root signs checkpoints and keys the backup-code lookups: both must agree.
        let signed_by = crate::store::audit::latest_checkpoint(store.db())
            .await?
            .map(|c| c.key_id);
        if signed_by.is_some_and(|key| key != keyring.checkpoint_key_id()) {
            return Ok(false);
        }
        let Some((generation, code)) = crate::store::backup::any_code(store.db()).await? else {
            return Ok(true);
        };
        let aad =
            crate::crypto::backup_code_aad(&generation.account_id, &generation.id, code.position);
        let Ok(shown) = keyring.open_member(
            &generation.id,
            &generation.wrapped_dek,
            &generation.kek_id,
            &aad,
            &code.ciphertext,
        ) else {
            // Not openable here (a KEK problem, reported for the KEK itself).
            return Ok(true);
        };
        let normalised = std::str::from_utf8(&shown)
            .ok()
            .and_then(crate::domain::backup::normalise);
        return Ok(normalised.is_some_and(|n| {
            keyring.backup_lookup(&generation.account_id, &n) == code.lookup_hmac
        }));
    }
    Ok(match repo::one_wrapped_by(store.db(), id).await? {
        Some(dek) => keyring.opens_dek(&dek.owner_id, &dek.wrapped_dek, &dek.kek_id),
        None => true,
    })
}

async fn record(
    store: &Store,
    held: &BTreeMap<String, String>,
    new: &[String],
) -> Result<BTreeMap<String, String>, RotateError> {
    let tx = store.begin_write().await?;
    for id in new {
        if let Some(value) = held.get(id) {
            repo::record_key_check(&*tx, id, value).await?;
        }
    }
    let event = Event::new(super::tokens::SYSTEM_ACTOR, "keys.check_recorded")
        .details(serde_json::json!({ "key_ids": new }));
    crate::audit::append(&*tx, event).await?;
    let recorded = repo::key_checks(&*tx).await?;
    tx.commit().await?;
    Ok(recorded)
}

/// Re-wraps DEKs not yet under the active KEK; `progress(done, total)` after each batch.
pub async fn rewrap_all(
    store: &Store,
    keyring: &Keyring,
    batch: u64,
    mut progress: impl FnMut(u64, u64),
) -> Result<RewrapReport, RotateError> {
    prove(store, keyring).await?;
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

/// What is wrong with one key, as readiness and `keys status` report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyProblem {
    /// The key file's material for this id is not what the database recorded.
    Mismatch,
    /// Stored DEKs are wrapped by this id, but the key file does not hold it.
    Missing,
}

/// Each key with a problem, by id: a few indexed lookups, no table scans. `in_use` names KEK
/// ids known to wrap DEKs (the server counts them once at start): with those recorded in
/// `key_check`, every id that could wrap a stored DEK is looked at.
pub async fn health(
    store: &Store,
    keyring: &Keyring,
    in_use: &[String],
) -> Result<Vec<(String, KeyProblem)>, sea_orm::DbErr> {
    let recorded = repo::key_checks(store.db()).await?;
    let mut held = keyring.key_checks();
    if recorded.keys().any(|id| !held.contains_key(id)) {
        // Perhaps a rotation added it since; a refused reload keeps what is held.
        let _ = keyring.reload();
        held = keyring.key_checks();
    }
    let mut problems = Vec::new();
    for (id, value) in &held {
        if recorded.get(id).is_some_and(|known| known != value) {
            problems.push((id.clone(), KeyProblem::Mismatch));
        }
    }
    // The file on disk may have been swapped since start: the next start would refuse it.
    // (A key source that cannot be read at all is not a mismatch: the keys held still serve.)
    for id in keyring.source_mismatches().unwrap_or_default() {
        if !problems.iter().any(|(p, _)| *p == id) {
            problems.push((id, KeyProblem::Mismatch));
        }
    }
    let mut candidates: Vec<&String> = recorded.keys().chain(in_use).collect();
    candidates.sort();
    candidates.dedup();
    for id in candidates.into_iter().filter(|id| !held.contains_key(*id)) {
        if repo::one_wrapped_by(store.db(), id).await?.is_some() {
            problems.push((id.clone(), KeyProblem::Missing));
        }
    }
    Ok(problems)
}
