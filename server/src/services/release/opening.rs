//! Opening an escrow's scope with its rebuilt key, and what every opening leaves behind (the
//! escrow spent, rotation tasks): shared by the online release and the offline one.

use super::*;
use crate::authz::ORG_WIDE;
use crate::crypto::escrow::EscrowKey;
use crate::crypto::{backup_code_aad, open_with_dek, secret_aad};
use crate::domain::{Base32Secret, OtpParams, Otpauth, RotationKind, RotationReason};
use crate::services::escrow::seal_aad;
use crate::services::{Actor, ServiceError};
use crate::store::escrow::{self as repo, EscrowRow};
use crate::store::{accounts as accounts_repo, backup as backup_repo, rotation, secrets};

/// Opens every account in the escrow's scope with the escrow key alone: no KEK, no key file.
pub async fn open_scope(
    db: &impl sea_orm::ConnectionTrait,
    ig: &crate::store::Integrity,
    escrow: &EscrowRow,
    key: &EscrowKey,
) -> Result<Vec<ReleasedAccount>, ServiceError> {
    let teams: Vec<String> = serde_json::from_str(&escrow.teams).unwrap_or_default();
    let team_ids = if teams.iter().any(|t| t == ORG_WIDE) {
        None
    } else {
        Some(
            accounts_repo::team_ids(db, ig, &teams)
                .await?
                .into_keys()
                .collect(),
        )
    };
    let filter = accounts_repo::AccountFilter {
        team_ids,
        hide_archived: true,
        ..accounts_repo::AccountFilter::default()
    };
    let opening =
        |e: crate::crypto::escrow::EscrowError| ServiceError::internal(format!("release: {e}"));
    let mut out = Vec::new();
    for account in accounts_repo::list(db, ig, &filter, u64::MAX >> 1).await? {
        let current = secrets::current_of(db, std::slice::from_ref(&account.id)).await?;
        let mut released = ReleasedAccount {
            account: account.id.clone(),
            platform: account.platform.clone(),
            handle: account.handle.clone(),
            otpauth_uri: None,
            password: None,
            backup_codes: Vec::new(),
            released_ids: Vec::new(),
        };
        let ids: Vec<String> = current.iter().map(|s| s.id.clone()).collect();
        let seals = repo::seals_of(db, ig, &escrow.id, &ids).await?;
        for secret in &current {
            let Some(seal) = seals.iter().find(|s| s.owner_id == secret.id) else {
                continue;
            };
            let dek = key
                .open(&seal_aad(&escrow.id, "secret", &secret.id), &seal.sealed)
                .map_err(opening)?;
            released.released_ids.push(secret.id.clone());
            let value = open_with_dek(
                &dek,
                &secret_aad(&account.id, &secret.id, secret.version, &secret.kind),
                &secret.ciphertext,
            )?;
            if secret.kind == "password" {
                released.password = Some(String::from_utf8_lossy(&value).into_owned());
            } else if let Ok(params) = serde_json::from_str::<OtpParams>(&secret.params) {
                let otp = Otpauth {
                    secret: Base32Secret::from_bytes(value),
                    params,
                };
                let counter = secret.hotp_counter.map(|c| c.max(0) as u64);
                let uri = otp.to_uri(&format!("{}:{}", account.platform, account.handle), counter);
                released.otpauth_uri = Some(uri.as_str().to_owned());
            }
        }
        if let Some(generation) = backup_repo::current(db, &account.id).await? {
            let seal =
                repo::seals_of(db, ig, &escrow.id, std::slice::from_ref(&generation.id)).await?;
            if let Some(seal) = seal.first() {
                let dek = key
                    .open(
                        &seal_aad(&escrow.id, "backup", &generation.id),
                        &seal.sealed,
                    )
                    .map_err(opening)?;
                released.released_ids.push(generation.id.clone());
                for code in backup_repo::codes(db, &generation.id).await? {
                    if code.state == backup_repo::state::USED
                        || code.state == backup_repo::state::REJECTED
                    {
                        continue;
                    }
                    let aad = backup_code_aad(&account.id, &generation.id, code.position);
                    let value = open_with_dek(&dek, &aad, &code.ciphertext)?;
                    released
                        .backup_codes
                        .push((code.position, String::from_utf8_lossy(&value).into_owned()));
                }
            }
        }
        out.push(released);
    }
    Ok(out)
}

/// What every release does once the secrets are open, in its transaction: the escrow is spent,
/// every released secret gets a `break_glass` rotation task, and `release.open` and
/// `escrow.spent` are recorded (ids only).
pub(super) async fn finish_release(
    db: &impl sea_orm::ConnectionTrait,
    ig: &crate::store::Integrity,
    settings: &crate::config::RotationSettings,
    actor: &Actor,
    escrow: &EscrowRow,
    accounts: &[ReleasedAccount],
    details: serde_json::Value,
) -> Result<(), ServiceError> {
    if !repo::spend(db, ig, &escrow.id).await? {
        return Err(conflict(
            "escrow_spent",
            "this escrow was used already; a new ceremony is due",
        ));
    }
    // Spent: the DEKs sealed to it are of no further use, and are not kept.
    repo::delete_seals(db, &escrow.id).await?;
    // The escrow's other releases end with it: their shares are forgotten.
    let this = details["release"].as_str().unwrap_or_default().to_owned();
    for other in repo::releases_of(db, ig, &escrow.id).await? {
        let unopened = other.state == repo::RELEASED && other.opened.is_none();
        let live = other.state == repo::COLLECTING || other.state == repo::WAITING || unopened;
        if other.id != this && live {
            repo::delete_release_shares(db, &other.id).await?;
            let mut other = other;
            other.state = repo::EXPIRED.to_owned();
            repo::update_release(db, ig, other).await?;
        }
    }
    let mut released = Vec::new();
    for account in accounts {
        let mut kinds = Vec::new();
        match account.otpauth_uri.as_deref() {
            Some(uri) if uri.starts_with("otpauth://hotp") => kinds.push(RotationKind::Hotp),
            Some(_) => kinds.push(RotationKind::Totp),
            None => {}
        }
        if account.password.is_some() {
            kinds.push(RotationKind::Password);
        }
        if !account.backup_codes.is_empty() {
            kinds.push(RotationKind::BackupCodes);
        }
        let team_id = accounts_repo::find(db, ig, &account.account)
            .await?
            .map(|a| a.team_id)
            .unwrap_or_default();
        let team = accounts_repo::team_slug(db, ig, &team_id)
            .await?
            .unwrap_or_default();
        for kind in &kinds {
            let new = rotation::NewTask {
                account_id: &account.account,
                kind: kind.as_str(),
                reason: RotationReason::BreakGlass.as_str(),
                secret_id: None,
                generation_id: None,
                member_id: None,
                due_at: crate::services::rotation::due(settings, *kind),
                opened_by: &actor.subject,
            };
            crate::services::rotation::open_task(db, ig, actor, &team, new).await?;
        }
        released.push(serde_json::json!({
            "account": account.account,
            "kinds": kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            "backup_codes": account.backup_codes.len(),
            "ids": account.released_ids,
        }));
    }
    let mut details = details;
    details["escrow"] = serde_json::Value::String(escrow.id.clone());
    details["released"] = serde_json::Value::Array(released);
    let event = actor
        .event("release.open")
        .target(format!("escrow:{}", escrow.id))
        .details(details);
    crate::services::exposure::append(db, ig, event).await?;
    let event = actor
        .event("escrow.spent")
        .target(format!("escrow:{}", escrow.id))
        .details(serde_json::json!({}));
    crate::audit::append(db, event).await?;
    Ok(())
}
