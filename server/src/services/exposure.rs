//! The exposure ledger's projection: which secrets an audit event exposes to its actor. The
//! same projection records the ledger as events are appended ([`append`], in the event's
//! transaction) and fills it from the audit events present when the ledger arrived
//! ([`backfill`]), so the two cannot disagree about what counts.

use super::tokens::SYSTEM_ACTOR;
use crate::audit::Event;
use crate::store::exposure::{self as repo, NewExposure, BACKUP};
use crate::store::{backup, secrets, Integrity, Store};
use sea_orm::{ConnectionTrait, DbErr};
use serde_json::Value;

/// The audit actions that expose a secret beyond the moment: the value was written or
/// imported by the actor (it stays wherever they typed or scanned it from), exported,
/// revealed (a password; an HOTP code, valid until a later one is used), checked out (a
/// backup code), or released by break-glass. A TOTP code is not among them: it expires.
pub const EXPOSING: [&str; 10] = [
    "totp.set",
    "hotp.set",
    "password.set",
    "totp.export",
    "hotp.export",
    "password.reveal",
    "hotp.reveal",
    "backup.import",
    "backup.checkout",
    "release.open",
];

/// A secret version's kind as the ledger names it (a `&'static str`).
fn ledger_kind(kind: &str) -> &'static str {
    match kind {
        "totp" => "totp",
        "hotp" => "hotp",
        _ => "password",
    }
}

fn int(details: &Value, key: &str) -> Option<i32> {
    details[key].as_i64().and_then(|n| i32::try_from(n).ok())
}

/// The secrets a successful event of `action` on `target` exposes to its actor.
pub async fn facts_of(
    db: &impl ConnectionTrait,
    action: &str,
    target: Option<&str>,
    details: &Value,
) -> Result<Vec<NewExposure>, DbErr> {
    if action == "release.open" {
        return released(db, details).await;
    }
    let Some(account_id) = target.and_then(|t| t.strip_prefix("account:")) else {
        return Ok(Vec::new());
    };
    let fact = |secret_kind, secret_id: &str, version, how| NewExposure {
        account_id: account_id.to_owned(),
        secret_kind,
        secret_id: secret_id.to_owned(),
        version,
        position: None,
        counter: None,
        how,
    };
    let found = match action {
        "backup.import" => {
            let (Some(id), Some(number)) = (
                details["generation_id"].as_str(),
                int(details, "generation"),
            ) else {
                return Ok(Vec::new());
            };
            fact(BACKUP, id, number, "import")
        }
        "backup.checkout" => {
            let (Some(number), Some(position)) =
                (int(details, "generation"), int(details, "position"))
            else {
                return Ok(Vec::new());
            };
            // Events before the ledger name the generation by number only.
            let id = match details["generation_id"].as_str() {
                Some(id) => id.to_owned(),
                None => match backup::by_number(db, account_id, number).await? {
                    Some(g) => g.id,
                    None => return Ok(Vec::new()),
                },
            };
            NewExposure {
                position: Some(position),
                ..fact(BACKUP, &id, number, "checkout")
            }
        }
        _ => {
            let (Some(id), Some(version)) =
                (details["secret_id"].as_str(), int(details, "version"))
            else {
                return Ok(Vec::new());
            };
            let (kind, how) = match action {
                "totp.set" if details.get("import").is_some() => ("totp", "import"),
                "hotp.set" if details.get("import").is_some() => ("hotp", "import"),
                "totp.set" => ("totp", "write"),
                "hotp.set" => ("hotp", "write"),
                "password.set" => ("password", "write"),
                "totp.export" => ("totp", "export"),
                "hotp.export" => ("hotp", "export"),
                "password.reveal" => ("password", "reveal"),
                "hotp.reveal" => ("hotp", "reveal"),
                _ => return Ok(Vec::new()),
            };
            let counter = (action == "hotp.reveal")
                .then(|| details["counter"].as_i64())
                .flatten();
            NewExposure {
                counter,
                ..fact(kind, id, version, how)
            }
        }
    };
    Ok(vec![found])
}

/// What a break-glass release handed over: each secret version and generation it names.
async fn released(db: &impl ConnectionTrait, details: &Value) -> Result<Vec<NewExposure>, DbErr> {
    let mut out = Vec::new();
    for released in details["released"].as_array().into_iter().flatten() {
        let Some(account_id) = released["account"].as_str() else {
            continue;
        };
        for id in released["ids"].as_array().into_iter().flatten() {
            let Some(id) = id.as_str() else { continue };
            let (secret_kind, version) = if let Some(s) = secrets::find(db, id).await? {
                (ledger_kind(&s.kind), s.version)
            } else if let Some(g) = backup::generation(db, id).await? {
                (BACKUP, g.generation)
            } else {
                continue;
            };
            out.push(NewExposure {
                account_id: account_id.to_owned(),
                secret_kind,
                secret_id: id.to_owned(),
                version,
                position: None,
                counter: None,
                how: "break_glass",
            });
        }
    }
    Ok(out)
}

/// Appends `event` to the audit chain and records, in the same transaction, what it exposes
/// to its actor; every exposing action is appended through here.
pub async fn append(db: &impl ConnectionTrait, ig: &Integrity, event: Event) -> Result<i64, DbErr> {
    let (actor, action, target, details) = (
        event.actor.clone(),
        event.action,
        event.target.clone(),
        event.details.clone(),
    );
    let (seq, at) = crate::audit::append_stamped(db, event).await?;
    for fact in facts_of(db, action, target.as_deref(), &details).await? {
        repo::insert(db, ig, &actor, seq, at, fact).await?;
    }
    Ok(seq)
}

/// Fills the ledger, once, from the exposing audit events older than its first row (those
/// recorded before the ledger existed and still present), in one transaction with
/// `exposure.backfill`. Returns the rows recorded; nothing to do on a database that never had
/// such events, or that was filled before.
pub async fn backfill(store: &Store, ig: &Integrity) -> Result<u64, DbErr> {
    let db = store.db();
    let before = repo::first_seq(db, ig).await?.unwrap_or(i64::MAX);
    if crate::store::audit::by_actions(db, &EXPOSING, 0, before, 1)
        .await?
        .is_empty()
    {
        return Ok(0);
    }
    let marker = crate::store::audit::AuditFilter {
        action: Some("exposure.backfill".to_owned()),
        ..crate::store::audit::AuditFilter::default()
    };
    if !crate::store::audit::search(db, &marker, 1)
        .await?
        .is_empty()
    {
        return Ok(0);
    }
    let tx = store.begin_write().await?;
    // One filler at a time across replicas; each event is recorded once (an event whose
    // sequence has ledger rows is left alone).
    crate::store::audit::lock_head(&*tx).await?;
    let (mut after, mut events, mut rows) = (0, 0u64, 0u64);
    loop {
        let page = crate::store::audit::by_actions(&*tx, &EXPOSING, after, before, 500).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        let seqs: Vec<i64> = page.iter().map(|e| e.seq).collect();
        let present = repo::seqs_present(&*tx, &seqs).await?;
        for event in page {
            if present.contains(&event.seq) {
                continue;
            }
            let details: Value = serde_json::from_str(&event.details).unwrap_or_default();
            let facts = facts_of(&*tx, &event.action, event.target.as_deref(), &details).await?;
            events += 1;
            for fact in facts {
                repo::insert(&*tx, ig, &event.actor, event.seq, event.at, fact).await?;
                rows += 1;
            }
        }
    }
    if events == 0 {
        return Ok(0);
    }
    let event = Event::new(SYSTEM_ACTOR, "exposure.backfill")
        .details(serde_json::json!({ "events": events, "rows": rows, "before_seq": before }));
    crate::audit::append(&*tx, event).await?;
    tx.commit().await?;
    Ok(rows)
}
