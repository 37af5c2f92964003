//! Creating, listing and revoking service tokens (from the CLI).

use crate::audit::Event;
use crate::authn::{tokens, Binding};
use crate::crypto::Keyring;
use crate::store::tokens::{self as repo, TokenRow};
use crate::store::{new_id, Integrity, Store};

/// The purpose of the key under which token hashes are computed.
const TOKEN_HASH: &str = "keyward/v1/service-token";

/// How a token is stored: a keyed hash, which someone who can write the database but holds
/// no key file cannot compute for a token of their own.
fn keyed_hash(keyring: &Keyring, token: &str) -> String {
    keyring.lookup_hash(TOKEN_HASH, token.trim())
}
use zeroize::Zeroizing;

pub use crate::domain::identity::{CLI_ACTOR, SYSTEM_ACTOR};

/// Creates a token; the returned value is shown once and never stored.
pub async fn create(
    store: &Store,
    ig: &Integrity,
    name: &str,
    bindings: Vec<Binding>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<(TokenRow, Zeroizing<String>), sea_orm::DbErr> {
    create_for(store, ig, name, bindings, expires_at, None).await
}

/// Creates a token that acts for a member (`member_id`): their departure revokes it, and
/// what it reveals counts as theirs.
pub async fn create_for(
    store: &Store,
    ig: &Integrity,
    name: &str,
    bindings: Vec<Binding>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    member_id: Option<&str>,
) -> Result<(TokenRow, Zeroizing<String>), sea_orm::DbErr> {
    let keyring = ig.keyring().ok_or_else(|| {
        sea_orm::DbErr::Custom("creating a token needs the key file (keys.key_file)".to_owned())
    })?;
    let token = tokens::generate();
    let bindings_json =
        serde_json::to_string(&bindings).map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
    let tx = store.begin_write().await?;
    let row = repo::insert(
        &*tx,
        ig,
        TokenRow {
            id: new_id(),
            name: name.to_owned(),
            token_hash: keyed_hash(keyring, &token),
            bindings: bindings_json,
            created_at: crate::store::now(),
            expires_at,
            revoked_at: None,
            last_used_at: None,
            member_id: member_id.map(str::to_owned),
            mac: None,
        },
    )
    .await?;
    let event = Event::new(CLI_ACTOR, "token.create")
        .target(format!("token:{}", row.id))
        .details(serde_json::json!({
            "name": name,
            "bindings": bindings,
            "expires_at": expires_at,
            "member": member_id.map(|m| format!("member:{m}")),
        }));
    crate::audit::append(&*tx, event).await?;
    tx.commit().await?;
    Ok((row, token))
}

/// Revokes a token at once; returns false if it does not exist.
pub async fn revoke(store: &Store, ig: &Integrity, id: &str) -> Result<bool, sea_orm::DbErr> {
    let tx = store.begin_write().await?;
    let Some(row) = repo::find(&*tx, ig, id).await? else {
        return Ok(false);
    };
    repo::revoke(&*tx, ig, row).await?;
    crate::audit::append(
        &*tx,
        Event::new(CLI_ACTOR, "token.revoke").target(format!("token:{id}")),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

impl super::Core {
    /// The stored token a presented bearer token is, if any (looked up by its hash; whether it
    /// is still usable is the caller's to decide).
    pub async fn token_presented(&self, token: &str) -> Result<Option<TokenRow>, sea_orm::DbErr> {
        let hashes = [keyed_hash(&self.keyring, token), tokens::hash(token)];
        repo::find_by_hash(&self.store.reader(), &self.integrity, &hashes).await
    }
}
