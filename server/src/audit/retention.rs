//! Retention: events older than `audit.retention_days` move to an archive file and leave the
//! database, without breaking what `audit verify` can prove.
//!
//! A run first verifies the chain, writes the old events as JSON lines (the export format) to
//! a new file, reads the file back and recomputes its hashes, and only then, in one
//! transaction, removes the events and stores a signed *anchor*: the last archived event's
//! sequence number and hash plus the file's SHA-256. The chain in the database then starts
//! from the anchor, and the archive proves what came before it. The newest event always
//! stays (new events chain onto it), and events a SIEM forwarder has not yet delivered are
//! never removed.

use super::anchor::anchor_row_message;
use super::chain::{canonical_hash, Event, GENESIS_HASH};
use super::export::to_json;
use crate::crypto::Keyring;
use crate::store::audit::{self as repo, AnchorRow, AuditRow};
use crate::store::{now, Store};
use chrono::SecondsFormat;
use sha2::{Digest, Sha256};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// Why a retention run stopped; nothing was removed.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("archive: {0}")]
    Archive(String),
    #[error("the audit chain does not verify (first bad seq {0}); nothing was archived")]
    Broken(i64),
}

/// What a run archived.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Archived {
    pub first_seq: i64,
    pub last_seq: i64,
    pub events: i64,
    pub path: PathBuf,
    pub sha256: String,
}

/// What an archive file holds, once its chain has been recomputed.
#[derive(Debug, Clone)]
pub struct ArchiveSummary {
    pub first_seq: i64,
    pub last_seq: i64,
    pub events: i64,
    /// The first event's `prev_hash`: the genesis hash or the previous archive's last hash.
    pub first_prev_hash: String,
    pub last_hash: String,
    pub sha256: String,
}

/// The most events one run archives (one file, one transaction); a larger backlog takes
/// several runs, so no transaction grows without bound.
pub const MAX_EVENTS_PER_FILE: i64 = 50_000;

/// The range of events a run would archive: from the first stored event to the newest one
/// before `cutoff`, but never the chain head, never beyond what the named forwarders have
/// delivered and never more than `MAX_EVENTS_PER_FILE`.
pub async fn plan(
    store: &Store,
    cutoff: chrono::DateTime<chrono::Utc>,
    forwarders: &[String],
) -> Result<Option<(i64, i64)>, sea_orm::DbErr> {
    plan_through(store, cutoff, forwarders, i64::MAX).await
}

/// `plan`, never past `max_seq` (a run of several files stops at the head it started from,
/// rather than archiving its own `audit.retention` events).
pub async fn plan_through(
    store: &Store,
    cutoff: chrono::DateTime<chrono::Utc>,
    forwarders: &[String],
    max_seq: i64,
) -> Result<Option<(i64, i64)>, sea_orm::DbErr> {
    let db = store.db();
    let Some(first) = repo::page(db, 0, 1).await?.first().map(|r| r.seq) else {
        return Ok(None);
    };
    let (Some((head, _)), Some(mut last)) = (
        repo::head(db).await?,
        repo::last_seq_before(db, cutoff).await?,
    ) else {
        return Ok(None);
    };
    last = last
        .min(head - 1)
        .min(max_seq)
        .min(first + MAX_EVENTS_PER_FILE - 1);
    for name in forwarders {
        // A forwarder that has not started yet holds everything back.
        let delivered = repo::cursor(db, name).await?.map_or(0, |c| c.seq);
        last = last.min(delivered);
    }
    Ok((last >= first).then_some((first, last)))
}

/// The lease that lets one retention run at a time, across replicas and the CLI. It borrows
/// a row of the forwarding cursors' table under a name no destination can have.
const RETENTION_LEASE: &str = "#retention";

/// One retention run: what to archive, where, and who asked.
pub struct Job<'a> {
    pub store: &'a Store,
    pub keyring: &'a Keyring,
    /// Where archive files go.
    pub dir: &'a Path,
    /// Events before this time may go…
    pub cutoff: chrono::DateTime<chrono::Utc>,
    /// …once these forwarders have delivered them…
    pub forwarders: &'a [String],
    /// …and never past this sequence number.
    pub max_seq: i64,
    /// Recorded on the `audit.retention` event.
    pub actor: &'a str,
}

impl Job<'_> {
    /// Archives and removes the events `plan_through` picks; `None` when there is nothing to
    /// do or another run is at work.
    pub async fn run(&self) -> Result<Option<Archived>, RetentionError> {
        let store = self.store;
        let owner = uuid::Uuid::now_v7().to_string();
        let tx = store.begin_write().await?;
        repo::ensure_cursor(&*tx, RETENTION_LEASE, 0).await?;
        let until = now() + chrono::Duration::minutes(30);
        let leased = repo::take_lease(&*tx, RETENTION_LEASE, &owner, until).await?;
        tx.commit().await?;
        if !leased {
            return Ok(None);
        }
        let result = self.run_leased().await;
        let tx = store.begin_write().await?;
        repo::release_lease(&*tx, RETENTION_LEASE, &owner).await?;
        tx.commit().await?;
        result
    }

    async fn run_leased(&self) -> Result<Option<Archived>, RetentionError> {
        let store = self.store;
        let plan = plan_through(store, self.cutoff, self.forwarders, self.max_seq).await?;
        let Some(range) = plan else {
            return Ok(None);
        };
        let key_id = self.keyring.checkpoint_key_id();
        let trust = super::checkpoint::Trust {
            key_id: &key_id,
            witness: None,
        };
        let report = super::checkpoint::verify_all(store.db(), Some(trust), |_| {}).await?;
        if !report.ok {
            return Err(RetentionError::Broken(report.first_bad_seq.unwrap_or(0)));
        }
        let anchor = repo::latest_anchor(store.db()).await?;
        let file = write_archive(store, self.dir, range.0, range.1).await?;
        match self.commit(&file, anchor.as_ref(), range).await {
            Ok(Some(archived)) => Ok(Some(archived)),
            other => {
                // Nothing was removed, and only this run (holding the lease) could have
                // anchored the file: one it created must not suggest otherwise.
                file.discard();
                other
            }
        }
    }

    /// Checks the archive file against the database and, in one transaction, stores the
    /// signed anchor, removes the archived events and records the run.
    async fn commit(
        &self,
        file: &ArchiveFile,
        anchor: Option<&AnchorRow>,
        (first, last): (i64, i64),
    ) -> Result<Option<Archived>, RetentionError> {
        let (store, keyring, cutoff, actor) = (self.store, self.keyring, self.cutoff, self.actor);
        let expected_prev = anchor.map_or(GENESIS_HASH.to_owned(), |a| a.hash.clone());
        let anchor_seq = anchor.map(|a| a.seq);
        let path = &file.path;
        let summary = verify_archive(path).map_err(RetentionError::Archive)?;
        let last_row = repo::event(store.db(), last)
            .await?
            .ok_or_else(|| RetentionError::Archive(format!("event {last} vanished")))?;
        if summary.first_seq != first
            || summary.last_seq != last
            || summary.first_prev_hash != expected_prev
            || summary.last_hash != last_row.hash
        {
            return Err(RetentionError::Archive(format!(
                "{} does not match the database's chain; nothing was removed",
                path.display()
            )));
        }

        let tx = store.begin_write().await?;
        // Removing first and taking the chain lock last keeps the lock (which every audited
        // action waits for on PostgreSQL) for the few statements that need it.
        let removed = repo::delete_through(&*tx, last).await?;
        repo::lock_head(&*tx).await?;
        // Another run may have archived meanwhile: then this one has nothing left to do.
        if repo::latest_anchor(&*tx).await?.map(|a| a.seq) != anchor_seq {
            return Ok(None);
        }
        let archive = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut row = AnchorRow {
            seq: last,
            hash: last_row.hash.clone(),
            first_seq: first,
            archive: archive.clone(),
            archive_sha256: summary.sha256.clone(),
            at: now(),
            key_id: keyring.checkpoint_key_id(),
            signature: String::new(),
        };
        row.signature = keyring.sign_checkpoint(&anchor_row_message(&row));
        repo::insert_anchor(&*tx, row).await?;
        let event = Event::new(actor, "audit.retention").details(serde_json::json!({
            "first_seq": first,
            "last_seq": last,
            "events": removed,
            "archive": archive,
            "archive_sha256": summary.sha256,
            "cutoff": cutoff.to_rfc3339_opts(SecondsFormat::Secs, true),
        }));
        super::append(&*tx, event).await?;
        tx.commit().await?;
        file.write_checksum(&summary.sha256);
        tracing::info!(
            audit_archived_first = first,
            audit_archived_last = last,
            audit_archive = %path.display(),
            audit_archive_sha256 = %summary.sha256,
            "old audit events archived and removed"
        );
        Ok(Some(Archived {
            first_seq: first,
            last_seq: last,
            events: summary.events,
            path: path.clone(),
            sha256: summary.sha256,
        }))
    }
}

/// The cutoff for a retention of `days` days: now minus that many days (bounded by the
/// configuration's 36500-day maximum, and saturating rather than overflowing).
pub fn cutoff(days: u32) -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    now.checked_sub_signed(chrono::Duration::days(i64::from(days.min(36_500))))
        .unwrap_or(now)
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> RetentionError + '_ {
    move |e| RetentionError::Archive(format!("{}: {e}", path.display()))
}

/// An archive file in place; `created` when this run put it there (and may take it back).
struct ArchiveFile {
    path: PathBuf,
    created: bool,
}

impl ArchiveFile {
    fn checksum_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".sha256");
        PathBuf::from(name)
    }

    /// A `sha256sum -c` line beside the file, unless one is there already.
    fn write_checksum(&self, sha256: &str) {
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.checksum_path())
            .and_then(|mut f| writeln!(f, "{sha256}  {name}"));
        if let Err(err) = written {
            if err.kind() != std::io::ErrorKind::AlreadyExists {
                tracing::warn!(error = %err, "could not write the archive's .sha256 file");
            }
        }
    }

    /// Removes the file if this run created it.
    fn discard(&self) {
        if self.created {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Writes events `first..=last` to `keyward-audit-<first>-<last>.jsonl` in `dir`: to a
/// temporary file first, synced, then linked into place. An existing file of that name is
/// never overwritten (another run may have written it; the check that follows decides
/// whether it holds exactly these events).
async fn write_archive(
    store: &Store,
    dir: &Path,
    first: i64,
    last: i64,
) -> Result<ArchiveFile, RetentionError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let name = format!("keyward-audit-{first:010}-{last:010}.jsonl");
    let path = dir.join(&name);
    let partial = dir.join(format!(".{name}.{}.partial", uuid::Uuid::now_v7()));
    let written = write_events(store, &partial, first, last).await;
    let linked = written.and_then(|()| match std::fs::hard_link(&partial, &path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io_err(&path)(e)),
    });
    let _ = std::fs::remove_file(&partial);
    let created = linked?;
    if let Ok(d) = std::fs::File::open(dir) {
        // Make the new name durable too; not every platform can sync a directory.
        let _ = d.sync_all();
    }
    Ok(ArchiveFile { path, created })
}

async fn write_events(
    store: &Store,
    path: &Path,
    first: i64,
    last: i64,
) -> Result<(), RetentionError> {
    let file = std::fs::File::create(path).map_err(io_err(path))?;
    let mut out = std::io::BufWriter::new(file);
    let mut after = first - 1;
    while after < last {
        let rows = repo::page(store.db(), after, 1000).await?;
        let rows: Vec<&AuditRow> = rows.iter().take_while(|r| r.seq <= last).collect();
        let Some(end) = rows.last().map(|r| r.seq) else {
            break;
        };
        for row in rows {
            let mut line = to_json(row).to_string().into_bytes();
            line.push(b'\n');
            out.write_all(&line).map_err(io_err(path))?;
        }
        after = end;
    }
    let file = out
        .into_inner()
        .map_err(|e| RetentionError::Archive(format!("{}: {e}", path.display())))?;
    file.sync_all().map_err(io_err(path))
}

/// Reads an archive file back and recomputes its chain: consecutive sequence numbers, each
/// `prev_hash` the previous event's hash, each hash matching the event's content.
pub fn verify_archive(path: &Path) -> Result<ArchiveSummary, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut summary: Option<ArchiveSummary> = None;
    for (i, line) in std::io::BufReader::new(file).split(b'\n').enumerate() {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        hasher.update(&line);
        hasher.update(b"\n");
        let row = parse_line(&line).ok_or_else(|| format!("line {}: not an audit event", i + 1))?;
        if canonical_hash(&row) != row.hash {
            return Err(format!(
                "event {}: hash does not match its content",
                row.seq
            ));
        }
        match &mut summary {
            None => {
                summary = Some(ArchiveSummary {
                    first_seq: row.seq,
                    last_seq: row.seq,
                    events: 1,
                    first_prev_hash: row.prev_hash.clone(),
                    last_hash: row.hash.clone(),
                    sha256: String::new(),
                })
            }
            Some(s) => {
                if row.seq != s.last_seq + 1 || row.prev_hash != s.last_hash {
                    return Err(format!(
                        "event {}: does not follow event {} (gap, reorder or edit)",
                        row.seq, s.last_seq
                    ));
                }
                s.last_seq = row.seq;
                s.last_hash = row.hash.clone();
                s.events += 1;
            }
        }
    }
    let mut summary = summary.ok_or_else(|| format!("{}: no events", path.display()))?;
    summary.sha256 = hex::encode(hasher.finalize());
    Ok(summary)
}

/// One exported line back into the stored row it came from.
fn parse_line(line: &[u8]) -> Option<AuditRow> {
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    Some(AuditRow {
        seq: v.get("seq")?.as_i64()?,
        at: chrono::DateTime::parse_from_rfc3339(v.get("at")?.as_str()?)
            .ok()?
            .with_timezone(&chrono::Utc),
        actor: text("actor")?,
        action: text("action")?,
        target: text("target"),
        team: text("team"),
        outcome: text("outcome")?,
        justification: text("justification"),
        ip: text("ip"),
        user_agent: text("user_agent"),
        request_id: text("request_id"),
        details: v.get("details")?.to_string(),
        prev_hash: text("prev_hash")?,
        hash: text("hash")?,
    })
}
