//! Appending to and verifying the chain. `hash = SHA-256(prev_hash ‖ canonical event)`.

use crate::store::audit::{self as repo, AuditRow};
use crate::store::now;
use chrono::SecondsFormat;
use sea_orm::{ConnectionTrait, DbErr};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Denied,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Denied => "denied",
            Self::Failure => "failure",
        }
    }
}

/// An event to record. `details` must never carry a secret value.
#[derive(Debug, Clone)]
pub struct Event {
    pub actor: String,
    pub action: &'static str,
    pub target: Option<String>,
    pub team: Option<String>,
    pub outcome: Outcome,
    pub justification: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
}

impl Event {
    pub fn new(actor: impl Into<String>, action: &'static str) -> Self {
        Self {
            actor: actor.into(),
            action,
            target: None,
            team: None,
            outcome: Outcome::Success,
            justification: None,
            ip: None,
            user_agent: None,
            request_id: None,
            details: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    pub fn team(mut self, team: impl Into<String>) -> Self {
        self.team = Some(team.into());
        self
    }

    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    pub fn justification(mut self, justification: Option<&str>) -> Self {
        self.justification = justification.map(str::to_owned);
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// The fields the hash covers, in a fixed order.
#[derive(Serialize)]
struct Canonical<'a> {
    v: u8,
    seq: i64,
    at: String,
    actor: &'a str,
    action: &'a str,
    target: Option<&'a str>,
    team: Option<&'a str>,
    outcome: &'a str,
    justification: Option<&'a str>,
    ip: Option<&'a str>,
    user_agent: Option<&'a str>,
    request_id: Option<&'a str>,
    details: &'a str,
}

/// The hash a stored row should have, given its `prev_hash`.
pub fn canonical_hash(row: &AuditRow) -> String {
    let canonical = Canonical {
        v: 1,
        seq: row.seq,
        at: row.at.to_rfc3339_opts(SecondsFormat::Micros, true),
        actor: &row.actor,
        action: &row.action,
        target: row.target.as_deref(),
        team: row.team.as_deref(),
        outcome: &row.outcome,
        justification: row.justification.as_deref(),
        ip: row.ip.as_deref(),
        user_agent: row.user_agent.as_deref(),
        request_id: row.request_id.as_deref(),
        details: &row.details,
    };
    let mut hasher = Sha256::new();
    hasher.update(row.prev_hash.as_bytes());
    // Serialising a struct of strings and integers cannot fail.
    hasher.update(serde_json::to_vec(&canonical).unwrap_or_default());
    hex::encode(hasher.finalize())
}

/// Appends `event` inside the caller's transaction and returns its sequence number.
/// If this fails the caller's transaction must fail too: no audit, no action.
pub async fn append(db: &impl ConnectionTrait, event: Event) -> Result<i64, DbErr> {
    Ok(append_stamped(db, event).await?.0)
}

/// [`append`], answering the event's sequence number and time.
pub async fn append_stamped(
    db: &impl ConnectionTrait,
    event: Event,
) -> Result<(i64, chrono::DateTime<chrono::Utc>), DbErr> {
    let started = std::time::Instant::now();
    let (seq, prev_hash) = match repo::lock_head(db).await? {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS_HASH.to_owned()),
    };
    let mut row = AuditRow {
        seq,
        at: now(),
        actor: event.actor,
        action: event.action.to_owned(),
        target: event.target,
        team: event.team,
        outcome: event.outcome.as_str().to_owned(),
        justification: event.justification,
        ip: event.ip,
        user_agent: event.user_agent.map(|ua| ua.chars().take(300).collect()),
        request_id: event.request_id,
        details: event.details.to_string(),
        prev_hash,
        hash: String::new(),
    };
    row.hash = canonical_hash(&row);
    let at = row.at;
    repo::insert(db, row).await?;
    crate::telemetry::metrics::observe_audit_append(started);
    Ok((seq, at))
}

/// The result of recomputing the chain.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VerifyReport {
    pub ok: bool,
    /// Events recomputed in this run (those still in the database; for an incremental run,
    /// those after the last verified head).
    pub checked: i64,
    /// Hash of the newest event checked (the genesis hash for an empty log).
    pub head: String,
    /// Sequence number of the newest event checked (0 for an empty log).
    pub head_seq: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bad_seq: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Signed checkpoints checked (see `audit::checkpoint`).
    pub checkpoints: i64,
    /// Events up to this sequence number were archived by retention; the chain in the
    /// database starts from that signed anchor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived_through: Option<i64>,
    /// The head the witness file (outside the database) holds, when it was checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub witness_seq: Option<i64>,
}

impl VerifyReport {
    /// The newest sequence number covered: archived or checked.
    pub fn last_seq(&self) -> i64 {
        self.head_seq.max(self.archived_through.unwrap_or(0))
    }
}

/// A verified point of the chain: the event `seq` with hash `hash` (seq 0 is the genesis).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainPoint {
    pub seq: i64,
    pub hash: String,
}

/// Recomputes the chain in pages, from the genesis or from the newest retention anchor;
/// `progress` is told how many events were checked.
pub async fn verify(
    db: &impl ConnectionTrait,
    progress: impl FnMut(i64),
) -> Result<VerifyReport, DbErr> {
    let anchor = repo::latest_anchor(db).await?;
    let archived_through = anchor.as_ref().map(|a| a.seq);
    let start = match &anchor {
        Some(a) => ChainPoint {
            seq: a.seq,
            hash: a.hash.clone(),
        },
        None => ChainPoint {
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
        },
    };
    verify_after(db, start, archived_through, progress).await
}

/// Recomputes the chain after `start`, a point already verified (or the anchor, or the
/// genesis): each event must follow the one before it and match its own hash.
pub async fn verify_after(
    db: &impl ConnectionTrait,
    start: ChainPoint,
    archived_through: Option<i64>,
    mut progress: impl FnMut(i64),
) -> Result<VerifyReport, DbErr> {
    const PAGE: u64 = 1000;
    let (mut expected_seq, mut prev) = (start.seq + 1, start.hash);
    let mut checked = 0;
    let mut after = start.seq;
    loop {
        let rows = repo::page(db, after, PAGE).await?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        for row in &rows {
            let broken = |reason: &str| VerifyReport {
                ok: false,
                checked,
                head: prev.clone(),
                head_seq: expected_seq - 1,
                first_bad_seq: Some(expected_seq.min(row.seq)),
                reason: Some(reason.to_owned()),
                checkpoints: 0,
                archived_through,
                witness_seq: None,
            };
            if row.seq != expected_seq {
                return Ok(broken("sequence gap: an event was removed or reordered"));
            }
            if row.prev_hash != prev {
                return Ok(broken("prev_hash does not match the previous event"));
            }
            if canonical_hash(row) != row.hash {
                return Ok(broken("hash does not match the event's content"));
            }
            prev = row.hash.clone();
            expected_seq += 1;
            checked += 1;
        }
        progress(checked);
    }
    Ok(VerifyReport {
        ok: true,
        checked,
        head: prev,
        head_seq: expected_seq - 1,
        first_bad_seq: None,
        reason: None,
        checkpoints: 0,
        archived_through,
        witness_seq: None,
    })
}
