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

/// Checks every retention anchor and checkpoint against a chain already recomputed into
/// `report`: each must be signed by `key_id`; anchors must follow one another from seq 1;
/// a checkpoint must match the stored event at its sequence number (or the anchor, for the
/// archived part, whose content the archive files prove).
pub async fn verify(
    db: &impl ConnectionTrait,
    key_id: &str,
    mut report: VerifyReport,
) -> Result<VerifyReport, DbErr> {
    let checkpoints = repo::checkpoints(db).await?;
    let anchors = repo::anchors(db).await?;
    report.checkpoints = checkpoints.len() as i64;
    if !report.ok {
        return Ok(report);
    }
    let fail = |mut report: VerifyReport, seq: i64, reason: String| {
        report.ok = false;
        report.first_bad_seq = Some(seq);
        report.reason = Some(reason);
        report
    };
    let mut next_first = 1;
    for a in &anchors {
        let message = super::retention::anchor_row_message(a);
        if a.key_id != key_id || !checkpoint_signature_valid(&a.key_id, &message, &a.signature) {
            let reason = format!(
                "the retention anchor at seq {} is not signed by this keyring's key",
                a.seq
            );
            return Ok(fail(report, a.first_seq, reason));
        }
        if a.first_seq != next_first {
            let reason = format!(
                "events {next_first} to {} were removed without a retention anchor",
                a.first_seq - 1
            );
            return Ok(fail(report, next_first, reason));
        }
        next_first = a.seq + 1;
    }
    let archived = report.archived_through.unwrap_or(0);
    let last = report.last_seq();
    for c in &checkpoints {
        if c.key_id != key_id || !checkpoint_signature_valid(&c.key_id, &message(c), &c.signature) {
            let reason = format!(
                "the checkpoint at seq {} is not signed by this keyring's key",
                c.seq
            );
            return Ok(fail(report, c.seq, reason));
        }
        if c.seq > last {
            let reason = format!(
                "truncated: the log ends at seq {last} but a signed checkpoint covers seq {}",
                c.seq
            );
            return Ok(fail(report, last + 1, reason));
        }
        let matches = if c.seq < archived {
            true
        } else if c.seq == archived {
            anchors.last().is_some_and(|a| a.hash == c.head_hash)
        } else {
            repo::event(db, c.seq)
                .await?
                .is_some_and(|e| e.hash == c.head_hash)
        };
        if !matches {
            let reason = format!(
                "rewritten: event {} differs from the signed checkpoint of the chain head",
                c.seq
            );
            return Ok(fail(report, c.seq, reason));
        }
    }
    Ok(report)
}

/// Recomputes the chain and, given the keyring's checkpoint key id, checks its anchors and
/// checkpoints. A retention run committing meanwhile moves where the chain starts, which
/// would read as a gap: when the newest anchor changed during a failed check, it starts
/// again (three tries at most).
pub async fn verify_all(
    db: &impl ConnectionTrait,
    key_id: Option<&str>,
    mut progress: impl FnMut(i64),
) -> Result<VerifyReport, DbErr> {
    let mut tries = 0;
    loop {
        tries += 1;
        let anchor = repo::latest_anchor(db).await?.map(|a| a.seq);
        let chain = super::verify(db, &mut progress).await?;
        let report = match key_id {
            Some(key_id) => verify(db, key_id, chain).await?,
            None => chain,
        };
        if report.ok || tries >= 3 || repo::latest_anchor(db).await?.map(|a| a.seq) == anchor {
            return Ok(report);
        }
    }
}
