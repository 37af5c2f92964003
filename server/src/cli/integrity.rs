//! `keyward integrity`: scan the rows that carry authority for ones whose MAC does not verify,
//! and re-sign a row a security admin has reviewed.

use super::args::IntegrityCommand;
use super::common::{connect_migrated, integrity};
use crate::config::Settings;
use crate::services;
use std::process::ExitCode;

pub(super) async fn run(
    settings: &Settings,
    command: IntegrityCommand,
) -> anyhow::Result<ExitCode> {
    let store = connect_migrated(settings).await?;
    let ig = integrity(settings)?;
    match command {
        IntegrityCommand::Check => {
            let scans = services::integrity::check(&store, &ig).await?;
            let bad: usize = scans.iter().map(|s| s.bad.len()).sum();
            let rows: u64 = scans.iter().map(|s| s.rows).sum();
            for scan in &scans {
                for id in &scan.bad {
                    println!("bad  {:<17} {id}", scan.table);
                    // What the row says now, to review before attesting it.
                    if let Some(row) = services::integrity::describe(&store, scan.table, id).await?
                    {
                        println!("     {row}");
                    }
                }
            }
            if bad == 0 {
                println!("all {rows} rows that carry authority verify");
                return Ok(ExitCode::SUCCESS);
            }
            eprintln!(
                "{bad} of {rows} rows do not verify: they were changed or planted without the \
                 key file, or written by `keyward breakglass open` without it. Keyward treats \
                 them as absent. Review each; restore it from a backup, delete it, or re-sign \
                 it with `keyward integrity attest --table T --id ID --justification TEXT`."
            );
            Ok(ExitCode::from(1))
        }
        IntegrityCommand::Attest {
            table,
            id,
            justification,
        } => {
            if let Some(row) = services::integrity::describe(&store, &table, id.trim()).await? {
                println!("the row as it stands: {row}");
            }
            services::integrity::attest(&store, &ig, &table, id.trim(), &justification).await?;
            println!(
                "re-signed {table} {}; recorded as integrity.attest",
                id.trim()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
