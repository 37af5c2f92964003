//! Creating, listing and revoking service tokens (from the CLI).

use crate::audit::Event;
use crate::authn::{tokens, Binding};
use crate::store::tokens::{self as repo, TokenRow};
use crate::store::{new_id, Store};
use zeroize::Zeroizing;

pub use crate::domain::identity::{CLI_ACTOR, SYSTEM_ACTOR};

/// Creates a token; the returned value is shown once and never stored.
pub async fn create(
    store: &Store,
    name: &str,
    bindings: Vec<Binding>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<(TokenRow, Zeroizing<String>), sea_orm::DbErr> {
    create_for(store, name, bindings, expires_at, None).await
}

/// Creates a token that acts for a member (`member_id`): their departure revokes it, and
/// what it reveals counts as theirs.
pub async fn create_for(
    store: &Store,
    name: &str,
    bindings: Vec<Binding>,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    member_id: Option<&str>,
) -> Result<(TokenRow, Zeroizing<String>), sea_orm::DbErr> {
    let token = tokens::generate();
    let bindings_json =
        serde_json::to_string(&bindings).map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
    let tx = store.begin_write().await?;
    let row = repo::insert(
        &*tx,
        &new_id(),
        name,
        &tokens::hash(&token),
        &bindings_json,
        expires_at,
        member_id,
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
pub async fn revoke(store: &Store, id: &str) -> Result<bool, sea_orm::DbErr> {
    let tx = store.begin_write().await?;
    let Some(row) = repo::find(&*tx, id).await? else {
        return Ok(false);
    };
    repo::revoke(&*tx, row).await?;
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
        repo::find_by_hash(self.store.db(), &tokens::hash(token)).await
    }
}
