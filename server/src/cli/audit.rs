//! `keyward audit`: verify, checkpoint, archive, forwarders and export.
use super::common::connect_migrated;
use crate::audit::ExportFormat;
use crate::config::Settings;
use crate::crypto::Keyring;
use crate::services;
use crate::startup;
use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

pub(super) async fn audit_checkpoint(settings: &Settings) -> anyhow::Result<ExitCode> {
    let keyring = Keyring::load(startup::key_source(settings)?)?;
    let store = connect_migrated(settings).await?;
    services::keys::prove(&store, &keyring).await?;
    let due = crate::audit::checkpoint::Due::NOW;
    match crate::audit::checkpoint::write(&store, &keyring, due).await? {
        Some(c) => println!(
            "checkpoint at seq {}: head {}, signed by {}",
            c.seq, c.head_hash, c.key_id
        ),
        None => println!("nothing new since the last checkpoint"),
    }
    if let Some(path) = settings.witness_path() {
        use crate::audit::witness::Advance;
        match services::admin::advance_witness(&store, &keyring, &path, None).await? {
            Advance::Written(w) => println!("witness {} now holds seq {}", path.display(), w.seq),
            Advance::Unchanged(w) => {
                println!("witness {} already holds seq {}", path.display(), w.seq)
            }
            Advance::Refused(why) => {
                println!(
                    "witness {} NOT moved: {why}; run `keyward audit verify`",
                    path.display()
                );
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn audit_forwarders(settings: &Settings) -> anyhow::Result<ExitCode> {
    let store = connect_migrated(settings).await?;
    let forwarders = services::audit::forwarder_status(&store, settings).await?;
    if forwarders.is_empty() {
        println!("no SIEM destinations configured (add [[audit.forward]] to the configuration)");
    }
    for f in forwarders {
        let delivered = f
            .delivered_seq
            .map_or("nothing yet".to_owned(), |s| format!("up to seq {s}"));
        println!(
            "{:<16} {:<8} {:<32} {:<12} delivered {delivered}, {} behind",
            f.name, f.kind, f.destination, f.state, f.lag
        );
        if let Some(err) = f.last_error {
            println!("{:<16} last error ({} in a row): {err}", "", f.failures);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn audit_archive(
    settings: &Settings,
    before: Option<chrono::DateTime<chrono::Utc>>,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let cutoff = match before {
        Some(at) => at,
        None => {
            let days = settings.audit.retention_days;
            anyhow::ensure!(
                days > 0,
                "audit.retention_days is 0 (keep everything); set it, or give --before TIME"
            );
            crate::audit::retention::cutoff(days)
        }
    };
    let core = startup::build_core(settings, false).await?;
    anyhow::ensure!(
        core.pending_migrations().await? == 0,
        "the database has pending migrations; run `keyward migrate` first"
    );
    let forwarders: Vec<String> = settings
        .audit
        .forward
        .iter()
        .map(|f| f.name.clone())
        .collect();
    let plan = core.retention_plan(cutoff, &forwarders).await?;
    let Some((first, last)) = plan else {
        println!("nothing to archive before {}", cutoff.to_rfc3339());
        return Ok(ExitCode::SUCCESS);
    };
    if dry_run {
        println!(
            "would archive events {first} to {last} ({} events) before {}",
            last - first + 1,
            cutoff.to_rfc3339()
        );
        return Ok(ExitCode::SUCCESS);
    }
    anyhow::ensure!(
        settings.audit.archive_dir.is_some(),
        "audit.archive_dir: set where archive files go"
    );
    eprintln!(
        "verifying the chain, then archiving (at most {} events per file)…",
        crate::audit::retention::MAX_EVENTS_PER_FILE
    );
    let archived = core
        .archive_audit(services::tokens::CLI_ACTOR, cutoff, |a| {
            println!(
                "archived events {} to {} ({} events) to {}\nsha256 {}",
                a.first_seq,
                a.last_seq,
                a.events,
                a.path.display(),
                a.sha256
            )
        })
        .await?;
    if archived.is_empty() {
        println!("nothing archived: another process archived these events first");
    }
    Ok(ExitCode::SUCCESS)
}

/// Each archive's own chain, and its match with a signed anchor in the database: the file's
/// SHA-256 and last hash must be what the anchor (signed with the keyring's key) says.
pub(super) async fn audit_verify_archive(
    settings: &Settings,
    files: &[PathBuf],
) -> anyhow::Result<ExitCode> {
    let keyring = Keyring::load(startup::key_source(settings)?)
        .context("verify-archive checks the anchors' signatures and needs the key file")?;
    let key_id = keyring.checkpoint_key_id();
    let store = connect_migrated(settings).await?;
    let anchors = services::admin::anchors(&store).await?;
    let mut ok = true;
    for file in files {
        let verdict = crate::audit::retention::verify_archive(file).and_then(|summary| {
            let anchor = anchors
                .iter()
                .find(|a| a.first_seq == summary.first_seq && a.seq == summary.last_seq)
                .ok_or_else(|| {
                    format!(
                        "no retention anchor in the database covers events {} to {}",
                        summary.first_seq, summary.last_seq
                    )
                })?;
            let signed = anchor.key_id == key_id
                && crate::crypto::checkpoint_signature_valid(
                    &anchor.key_id,
                    &crate::audit::anchor::anchor_row_message(anchor),
                    &anchor.signature,
                );
            if !signed {
                return Err("its anchor is not signed by this keyring's key".to_owned());
            }
            if anchor.hash != summary.last_hash || anchor.archive_sha256 != summary.sha256 {
                return Err(format!(
                    "does not match its signed anchor (sha256 {}, anchor says {})",
                    summary.sha256, anchor.archive_sha256
                ));
            }
            Ok(summary)
        });
        match verdict {
            Ok(summary) => println!(
                "ok {}: events {} to {}, chain intact, last hash {}, sha256 {}; matches its signed anchor",
                file.display(),
                summary.first_seq,
                summary.last_seq,
                summary.last_hash,
                summary.sha256
            ),
            Err(reason) => {
                ok = false;
                println!("BROKEN {}: {reason}", file.display());
            }
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub(super) async fn audit_verify(settings: &Settings) -> anyhow::Result<ExitCode> {
    let store = connect_migrated(settings).await?;
    let keyring = startup::key_source(settings).and_then(|source| Ok(Keyring::load(source)?));
    let key_id = match keyring {
        Ok(keyring) => Some(keyring.checkpoint_key_id()),
        Err(err) => {
            eprintln!("warning: signed checkpoints, anchors and the witness not checked (no keyring: {err:#}); truncation would not show");
            None
        }
    };
    let witness_path = settings.witness_path();
    let witness = match &witness_path {
        Some(path) => match crate::audit::witness::Witness::read(path) {
            Ok(Some(witness)) => Some(witness),
            Ok(None) => {
                eprintln!(
                    "warning: no witness file at {}: removing the newest events together with their checkpoints would not show (the server writes it within audit.witness_seconds of each new event)",
                    path.display()
                );
                None
            }
            Err(err) => {
                println!("BROKEN: {err}");
                return Ok(ExitCode::from(1));
            }
        },
        None => {
            eprintln!("warning: no witness file configured (audit.witness_file): removing the newest events together with their checkpoints would not show");
            None
        }
    };
    let trust = key_id
        .as_deref()
        .map(|key_id| crate::audit::checkpoint::Trust {
            key_id,
            witness: witness.as_ref(),
        });
    let report = services::admin::verify_chain(&store, trust, |checked| {
        if checked % 10_000 == 0 {
            eprintln!("  {checked} events checked…");
        }
    })
    .await?;
    if report.ok {
        let archived = report
            .archived_through
            .map(|seq| {
                format!(
                    " (events up to {seq} archived; the chain resumes from their signed anchor)"
                )
            })
            .unwrap_or_default();
        let witnessed = match (&witness, &witness_path) {
            (Some(w), Some(path)) if trust.is_some() => format!(
                "; the witness {} (seq {}, signed {}) matches",
                path.display(),
                w.seq,
                w.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            _ => String::new(),
        };
        let (events, checkpoints) = (
            if report.checked == 1 {
                "event"
            } else {
                "events"
            },
            if report.checkpoints == 1 {
                "signed checkpoint matches"
            } else {
                "signed checkpoints match"
            },
        );
        println!(
            "ok: {} {events}, chain intact, head {}, {} {checkpoints}{witnessed}{archived}",
            report.checked, report.head, report.checkpoints
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "BROKEN at seq {}: {} ({} events verified before it)",
            report.first_bad_seq.unwrap_or(0),
            report.reason.as_deref().unwrap_or("unknown"),
            report.checked
        );
        Ok(ExitCode::from(1))
    }
}

pub(super) async fn audit_export(
    settings: &Settings,
    format: ExportFormat,
    output: Option<PathBuf>,
    mut filter: crate::store::audit::AuditFilter,
) -> anyhow::Result<ExitCode> {
    let store = connect_migrated(settings).await?;
    let mut out: Box<dyn Write> = match &output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    if format == ExportFormat::Csv {
        writeln!(out, "{}", crate::audit::CSV_HEADER)?;
    }
    let mut written = 0;
    loop {
        let rows = services::admin::audit_page(&store, &filter, 1000).await?;
        let Some(last) = rows.last() else { break };
        filter.after = last.seq;
        crate::audit::write_rows(&mut out, format, &rows)?;
        written += rows.len();
        if output.is_some() {
            eprintln!("  {written} events written…");
        }
    }
    out.flush()?;
    if let Some(path) = output {
        eprintln!("exported {written} events to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
