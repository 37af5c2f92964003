//! Signed checkpoints of the chain head. The chain alone shows an edit, a deletion or a
//! reordering in the middle; a checkpoint signed with the keyring's Ed25519 key also shows
//! removed newest events (truncation) and a chain rewritten from scratch, which a forger
//! without the key cannot re-sign. Each checkpoint is also written to the log, so a copy
//! exists outside the database.

use super::VerifyReport;
use crate::crypto::{checkpoint_message, checkpoint_signature_valid, Keyring};
use crate::store::audit::{self as repo, CheckpointRow};
use crate::store::{now, Store};
use chrono::{Duration, SecondsFormat, Utc};
use sea_orm::{ConnectionTrait, DbErr};

/// When a new checkpoint is due.
#[derive(Debug, Clone, Copy)]
pub struct Due {
    /// After this many events since the last checkpoint…
    pub events: i64,
    /// …or when the last one is this old and events came since.
    pub age: Duration,
}

impl Due {
    /// A checkpoint whenever there is anything new.
    pub const NOW: Due = Due {
        events: 1,
        age: Duration::zero(),
    };
}

fn message(row: &CheckpointRow) -> String {
    checkpoint_message(
        row.seq,
        &row.head_hash,
        &row.at.to_rfc3339_opts(SecondsFormat::Micros, true),
    )
}

/// Signs and stores a checkpoint of the current head if one is `due`; returns it.
pub async fn write(
    store: &Store,
    keyring: &Keyring,
    due: Due,
) -> Result<Option<CheckpointRow>, DbErr> {
    let tx = store.begin_write().await?;
    let Some((seq, head_hash)) = repo::lock_head(&*tx).await? else {
        return Ok(None);
    };
    let latest = repo::latest_checkpoint(&*tx).await?;
    let (since, last_at) = match &latest {
        Some(c) => (seq - c.seq, Some(c.at)),
        None => (seq, None),
    };
    let old = last_at.is_none_or(|at| Utc::now() - at >= due.age);
    if since <= 0 || (since < due.events && !old) {
        return Ok(None);
    }
    let mut row = CheckpointRow {
        seq,
        head_hash,
        at: now(),
        key_id: keyring.checkpoint_key_id(),
        signature: String::new(),
    };
    row.signature = keyring.sign_checkpoint(&message(&row));
    repo::insert_checkpoint(&*tx, row.clone()).await?;
    tx.commit().await?;
    tracing::info!(
        audit_checkpoint_seq = row.seq,
        audit_checkpoint_head = %row.head_hash,
        audit_checkpoint_key = %row.key_id,
        audit_checkpoint_signature = %row.signature,
        "audit checkpoint"
    );
    Ok(Some(row))
}

/// Checks every checkpoint against a chain already recomputed into `report`: each must be
/// signed by `key_id` and match the stored event at its sequence number.
pub async fn verify(
    db: &impl ConnectionTrait,
    key_id: &str,
    mut report: VerifyReport,
) -> Result<VerifyReport, DbErr> {
    let checkpoints = repo::checkpoints(db).await?;
    report.checkpoints = checkpoints.len() as i64;
    if !report.ok {
        return Ok(report);
    }
    for c in &checkpoints {
        let fail = |mut report: VerifyReport, seq: i64, reason: String| {
            report.ok = false;
            report.first_bad_seq = Some(seq);
            report.reason = Some(reason);
            report
        };
        if c.key_id != key_id || !checkpoint_signature_valid(&c.key_id, &message(c), &c.signature) {
            let reason = format!(
                "the checkpoint at seq {} is not signed by this keyring's key",
                c.seq
            );
            return Ok(fail(report, c.seq, reason));
        }
        if c.seq > report.checked {
            let reason = format!(
                "truncated: the log ends at seq {} but a signed checkpoint covers seq {}",
                report.checked, c.seq
            );
            return Ok(fail(report.clone(), report.checked + 1, reason));
        }
        let stored = repo::event(db, c.seq).await?;
        if stored.is_none_or(|e| e.hash != c.head_hash) {
            let reason = format!(
                "rewritten: event {} differs from the signed checkpoint of the chain head",
                c.seq
            );
            return Ok(fail(report, c.seq, reason));
        }
    }
    Ok(report)
}
