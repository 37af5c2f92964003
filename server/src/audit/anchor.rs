//! Retention anchors: what an anchor's signature covers, and how far the signed anchors
//! prove the log. Shared by the checkpoint verifier, the retention job and the witness.

use crate::crypto::{anchor_message, checkpoint_signature_valid};
use crate::store::audit::{self as repo, AnchorRow};
use chrono::SecondsFormat;
use sea_orm::{ConnectionTrait, DbErr};

/// What an anchor's signature covers.
pub fn anchor_row_message(row: &AnchorRow) -> String {
    anchor_message(
        row.seq,
        &row.hash,
        row.first_seq,
        &row.archive_sha256,
        &row.at.to_rfc3339_opts(SecondsFormat::Micros, true),
    )
}

/// The newest retention anchor, if every anchor is signed by `key_id` and they follow one
/// another from seq 1: how far the log is proven by archives. Anything else proves nothing.
pub async fn signed_anchor_head(
    db: &impl ConnectionTrait,
    key_id: &str,
) -> Result<Option<AnchorRow>, DbErr> {
    let mut next_first = 1;
    let mut head = None;
    for a in repo::anchors(db).await? {
        let signed = a.key_id == key_id
            && checkpoint_signature_valid(&a.key_id, &anchor_row_message(&a), &a.signature);
        if !signed || a.first_seq != next_first {
            return Ok(None);
        }
        next_first = a.seq + 1;
        head = Some(a);
    }
    Ok(head)
}
