//! `keyward keys`: the key file's status and rotating the DEKs to the newest KEK.
use super::common::connect_migrated;
use crate::config::Settings;
use crate::crypto::{KeyFile, KeySource, Keyring};
use crate::services;
use crate::startup;
use std::process::ExitCode;

pub(super) async fn rotate(
    settings: &Settings,
    resume: bool,
    batch: u64,
) -> anyhow::Result<ExitCode> {
    let KeySource::File(path) = startup::key_source(settings)? else {
        anyhow::bail!("keys rotate works on a key file (keys.key_file); rotate an environment keyring by hand");
    };
    let store = connect_migrated(settings).await?;
    // A key file that is not the database's is refused before anything is added to it.
    services::keys::prove(&store, &Keyring::load(KeySource::File(path.clone()))?).await?;
    if !resume {
        let mut file = KeyFile::read(&path)?;
        let new_id = file.add_key();
        file.replace(&path)?;
        services::keys::record_rotation(&store, &new_id).await?;
        eprintln!("added {new_id} to {} and made it active", path.display());
    }
    let keyring = Keyring::load(KeySource::File(path))?;
    eprintln!("re-wrapping data keys under {}…", keyring.active_id());
    let report = services::keys::rewrap_all(&store, &keyring, batch, |done, total| {
        eprintln!("  {done}/{total} data keys re-wrapped");
    })
    .await?;
    if report.remaining > 0 {
        eprintln!(
            "{} data keys still use an older key; run `keyward keys rotate --resume`",
            report.remaining
        );
        return Ok(ExitCode::from(1));
    }
    let active = keyring.active_id();
    let ig = crate::services::integrity::signer(std::sync::Arc::new(keyring));
    let remaced = services::integrity::rekey(&store, &ig).await?;
    println!(
        "done: {} data keys re-wrapped and {remaced} row MACs renewed; every secret now uses {active}",
        report.rewrapped,
    );
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn key_status(settings: &Settings) -> anyhow::Result<ExitCode> {
    let keyring = Keyring::load(startup::key_source(settings)?)?;
    let store = connect_migrated(settings).await?;
    let (counts, recorded) = services::admin::key_inventory(&store).await?;
    let in_use: Vec<String> = counts.keys().cloned().collect();
    let problems = services::keys::health(&store, &keyring, &in_use).await?;
    let problem = |id: &str| problems.iter().find(|(p, _)| p == id).map(|(_, k)| *k);
    let active = keyring.active_id();
    println!("{:<12} {:>8}  {:<18} check value", "key", "DEKs", "state");
    let mut ids = keyring.key_ids();
    ids.push(crate::crypto::ROOT_KEY_ID.to_owned());
    for id in ids {
        let n = counts.get(&id).copied().unwrap_or(0);
        let state = if id == crate::crypto::ROOT_KEY_ID {
            "derived keys"
        } else if id == active {
            "active"
        } else if n == 0 {
            "retired (unused)"
        } else {
            "in use"
        };
        let check = match (problem(&id), recorded.contains_key(&id)) {
            (Some(services::keys::KeyProblem::Mismatch), _) => {
                "MISMATCH: not the key this database was written with"
            }
            (_, true) => "matches the database",
            (_, false) => "not recorded yet (recorded at the next start or write)",
        };
        let shown = if id == crate::crypto::ROOT_KEY_ID {
            "root"
        } else {
            id.as_str()
        };
        println!(
            "{shown:<12} {:>8}  {state:<18} {check}",
            if shown == "root" {
                "-".to_owned()
            } else {
                n.to_string()
            }
        );
    }
    let held = keyring.key_ids();
    let missing: Vec<(&String, &i64)> =
        counts.iter().filter(|(id, _)| !held.contains(id)).collect();
    for (id, n) in &missing {
        println!("{id:<12} {n:>8}  MISSING from the keyring: these secrets cannot be opened");
    }
    let problems = problems.len() + missing.len();
    Ok(if problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
