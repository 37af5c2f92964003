//! Signed checkpoints of the chain head, and the checks of anchors, checkpoints and the
//! witness. The chain alone shows an edit, a deletion or a reordering in the middle; a
//! checkpoint signed with the keyring's Ed25519 key also shows removed newest events
//! (truncation) and a chain rewritten from scratch, which a forger without the key cannot
//! re-sign — as long as the checkpoint itself is not removed with them: the witness file
//! (`audit::witness`), outside the database, covers that. Each checkpoint is also written to
//! the log.

use super::witness::Witness;
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

async fn is_due(db: &impl ConnectionTrait, due: Due) -> Result<bool, DbErr> {
    let Some((seq, _)) = repo::head(db).await? else {
        return Ok(false);
    };
    let latest = repo::latest_checkpoint(db).await?;
    let (since, last_at) = match &latest {
        Some(c) => (seq - c.seq, Some(c.at)),
        None => (seq, None),
    };
    let old = last_at.is_none_or(|at| Utc::now() - at >= due.age);
    Ok(since > 0 && (since >= due.events || old))
}

/// Signs and stores a checkpoint of the current head if one is `due`; returns it.
pub async fn write(
    store: &Store,
    keyring: &Keyring,
    due: Due,
) -> Result<Option<CheckpointRow>, DbErr> {
    // Reads first: the write lock is taken only when a checkpoint is due.
    if !is_due(store.db(), due).await? {
        return Ok(None);
    }
    let tx = store.begin_write().await?;
    let Some((seq, head_hash)) = repo::lock_head(&*tx).await? else {
        return Ok(None);
    };
    if !is_due(&*tx, due).await? {
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

/// What verification trusts besides the database: the keyring's checkpoint key, and the
/// witness file's signed head when there is one.
#[derive(Debug, Clone, Copy)]
pub struct Trust<'a> {
    pub key_id: &'a str,
    pub witness: Option<&'a Witness>,
}

fn fail(mut report: VerifyReport, seq: i64, reason: String) -> VerifyReport {
    report.ok = false;
    report.first_bad_seq = Some(seq);
    report.reason = Some(reason);
    report
}

/// Checks the retention anchors, the checkpoints after `checkpoints_after` and the witness
/// against a chain already recomputed into `report`: each must be signed by the trusted key;
/// anchors must follow one another from seq 1; a checkpoint or the witness must match the
/// stored event at its sequence number (or the anchor, for the archived part, whose content
/// the archive files prove), and none may lie beyond the end of the log.
pub async fn verify(
    db: &impl ConnectionTrait,
    trust: Trust<'_>,
    checkpoints_after: i64,
    mut report: VerifyReport,
) -> Result<VerifyReport, DbErr> {
    let checkpoints = repo::checkpoints_with_events(db, checkpoints_after).await?;
    let anchors = repo::anchors(db).await?;
    report.checkpoints = checkpoints.len() as i64;
    report.witness_seq = trust.witness.map(|w| w.seq);
    if !report.ok {
        return Ok(report);
    }
    let key_id = trust.key_id;
    let mut next_first = 1;
    for a in &anchors {
        let message = super::anchor::anchor_row_message(a);
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
    // Whether the head `(seq, hash)` is in the log as the chain now stands.
    let stored = |seq: i64, hash: &str, event_hash: Option<&str>| {
        if seq < archived {
            true
        } else if seq == archived {
            anchors.last().is_some_and(|a| a.hash == hash)
        } else {
            event_hash == Some(hash)
        }
    };
    for c in &checkpoints {
        let message = checkpoint_message(
            c.seq,
            &c.head_hash,
            &c.at.to_rfc3339_opts(SecondsFormat::Micros, true),
        );
        if c.key_id != key_id || !checkpoint_signature_valid(&c.key_id, &message, &c.signature) {
            let reason = format!(
                "the checkpoint at seq {} is not signed by this keyring's key",
                c.seq
            );
            return Ok(fail(report, c.seq, reason));
        }
        // Beyond the events checked: truncated, unless the event is there now (it was appended
        // while the chain was being read; the next run checks it).
        let arrived = c.event_hash.as_deref() == Some(c.head_hash.as_str());
        if c.seq > last && !arrived {
            let reason = format!(
                "truncated: the log ends at seq {last} but a signed checkpoint covers seq {}",
                c.seq
            );
            return Ok(fail(report, last + 1, reason));
        }
        if c.seq <= last && !stored(c.seq, &c.head_hash, c.event_hash.as_deref()) {
            let reason = format!(
                "rewritten: event {} differs from the signed checkpoint of the chain head",
                c.seq
            );
            return Ok(fail(report, c.seq, reason));
        }
    }
    if let Some(w) = trust.witness {
        if !w.signed_by(key_id) {
            let reason = "the witness file is not signed by this keyring's key".to_owned();
            return Ok(fail(report, w.seq, reason));
        }
        let event_hash = if w.seq > archived {
            repo::event(db, w.seq).await?.map(|e| e.hash)
        } else {
            None
        };
        let arrived = event_hash.as_deref() == Some(w.head_hash.as_str());
        if w.seq > last && !arrived {
            let reason = format!(
                "truncated: the log ends at seq {last} but the witness file (outside the database) saw seq {}",
                w.seq
            );
            return Ok(fail(report, last + 1, reason));
        }
        if w.seq <= last && !stored(w.seq, &w.head_hash, event_hash.as_deref()) {
            let reason = format!(
                "rewritten: event {} differs from the witness file's signed head",
                w.seq
            );
            return Ok(fail(report, w.seq, reason));
        }
    }
    Ok(report)
}

/// Recomputes the whole chain and, given what to trust, checks its anchors, checkpoints and
/// witness. A retention run committing meanwhile moves where the chain starts, which would
/// read as a gap: when the newest anchor changed during a failed check, it starts again
/// (three tries at most).
pub async fn verify_all(
    db: &impl ConnectionTrait,
    trust: Option<Trust<'_>>,
    mut progress: impl FnMut(i64),
) -> Result<VerifyReport, DbErr> {
    let mut tries = 0;
    loop {
        tries += 1;
        let anchor = repo::latest_anchor(db).await?.map(|a| a.seq);
        let chain = super::verify(db, &mut progress).await?;
        let report = match trust {
            Some(trust) => verify(db, trust, 0, chain).await?,
            None => chain,
        };
        if report.ok || tries >= 3 || repo::latest_anchor(db).await?.map(|a| a.seq) == anchor {
            return Ok(report);
        }
    }
}
