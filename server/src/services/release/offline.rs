//! Opening a release offline (`keyward breakglass open`): the escrow key rebuilt from k shares
//! at the command line opens every account in the escrow's scope, with no KEK and no key file.

use super::opening::{finish_release, open_scope};
use super::*;
use crate::crypto::escrow::rebuild;
use crate::domain::share::ShareText;
use crate::services::escrow::stored_key;
use crate::services::{Actor, ServiceError};
use crate::store::escrow::{self as repo};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// `keyward breakglass open`: opens an escrow from k shares and the database alone — no key
/// file, no IdP, no server — records it (`release.open` by `cli`, the escrow spent, rotation
/// tasks) and returns the secrets. For when the service itself is down.
pub async fn open_offline(
    store: &crate::store::Store,
    settings: &crate::config::Settings,
    escrow_id: &str,
    shares: &[Zeroizing<String>],
) -> Result<Vec<ReleasedAccount>, ServiceError> {
    // No key file here: rows are believed as read, and what is written carries no MAC until a
    // security admin attests it (`keyward integrity check` lists it).
    let ig = &crate::store::Integrity::without_keys();
    let escrow = repo::find(store.db(), ig, escrow_id)
        .await?
        .ok_or(ServiceError::NotFound(crate::services::Missing::Escrow))?;
    if escrow.state != repo::ACTIVE {
        return Err(conflict(
            "escrow_spent",
            "this escrow was used already; a new ceremony is due",
        ));
    }
    let custodians = repo::custodians(store.db(), ig, &escrow.id).await?;
    let mut parsed = Vec::new();
    for raw in shares {
        let share = ShareText::parse(raw)?;
        if share.escrow != escrow.id {
            return Err(invalid_share("a share belongs to another escrow"));
        }
        let fingerprint = hex::encode(Sha256::digest(share.bytes.as_slice()));
        if !custodians
            .iter()
            .any(|c| c.share_index == i32::from(share.index) && c.fingerprint == fingerprint)
        {
            return Err(invalid_share(&format!(
                "share {} is not one of this escrow's",
                share.index
            )));
        }
        if parsed.iter().any(|p: &ShareText| p.index == share.index) {
            return Err(invalid_share(&format!(
                "share {} is given twice",
                share.index
            )));
        }
        parsed.push(share);
    }
    if parsed.len() < escrow.threshold as usize {
        return Err(conflict(
            "release_not_ready",
            "give as many shares as the escrow's threshold",
        ));
    }
    let public = stored_key(&escrow.public_key, "escrow key")?;
    let parts: Vec<&[u8]> = parsed.iter().map(|s| s.bytes.as_slice()).collect();
    let key = rebuild(&parts, &public).map_err(|_| {
        conflict(
            "release_shares_invalid",
            "the shares do not rebuild the escrow key",
        )
    })?;
    let tx = store.begin_write().await?;
    let accounts = open_scope(&*tx, ig, &escrow, &key).await?;
    drop(key);
    let details = serde_json::json!({ "offline": true, "shares": parsed.iter().map(|s| s.index).collect::<Vec<_>>() });
    finish_release(
        &*tx,
        ig,
        &settings.rotation,
        &Actor::cli(),
        &escrow,
        &accounts,
        details,
    )
    .await?;
    tx.commit().await?;
    Ok(accounts)
}
