//! One-time page results: a dashboard form keeps what it produced (sealed, bound to the
//! session, for a minute) and answers with a redirect; the page the redirect leads to takes
//! it once. A reload shows the page without it, and repeats nothing.

use super::SessionInfo;
use super::{Core, ServiceError};
use crate::authn::session::{hash, new_secret};
use crate::store::now;
use crate::store::sessions::{self as repo, PageResultRow};
use zeroize::Zeroizing;

const PURPOSE: &str = "keyward/v1/page-result";
/// Seconds a result waits for its page.
const TTL_SECONDS: i64 = 60;

fn aad(id_hash: &str, session_hash: &str) -> String {
    format!("{id_hash}/{session_hash}")
}

impl Core {
    /// Keeps `bytes` for one view by this session; returns the token for the redirect's URL.
    pub async fn keep_page_result(
        &self,
        session: &SessionInfo,
        bytes: &[u8],
    ) -> Result<Zeroizing<String>, ServiceError> {
        self.keep_page_result_for(session, bytes, TTL_SECONDS).await
    }

    /// [`Core::keep_page_result`] for `seconds` (a preview waiting for its confirmation).
    pub async fn keep_page_result_for(
        &self,
        session: &SessionInfo,
        bytes: &[u8],
        seconds: i64,
    ) -> Result<Zeroizing<String>, ServiceError> {
        let token = new_secret();
        let id_hash = hash(&token);
        let sealed = self.sealing_keyring().await?.seal_derived(
            PURPOSE,
            &aad(&id_hash, &session.id_hash),
            bytes,
        )?;
        let tx = self.store.begin_write().await?;
        repo::insert_page_result(
            &*tx,
            PageResultRow {
                id_hash,
                session_hash: session.id_hash.clone(),
                sealed,
                expires_at: now() + chrono::Duration::seconds(seconds),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(token)
    }

    /// Takes the result behind `token` for this session, once.
    pub async fn take_page_result(
        &self,
        session: &SessionInfo,
        token: &str,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, ServiceError> {
        if token.is_empty() || token.len() > 64 {
            return Ok(None);
        }
        let id_hash = hash(token);
        let tx = self.store.begin_write().await?;
        let row = repo::take_page_result(&*tx, &id_hash, &session.id_hash).await?;
        tx.commit().await?;
        Ok(row.and_then(|row| self.open_page_result(session, &id_hash, &row)))
    }

    /// Reads the result behind `token` for this session and leaves it for its taker (an
    /// import preview shown again, between entries confirmed one at a time).
    pub async fn peek_page_result(
        &self,
        session: &SessionInfo,
        token: &str,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, ServiceError> {
        if token.is_empty() || token.len() > 64 {
            return Ok(None);
        }
        let id_hash = hash(token);
        let row = repo::peek_page_result(self.store.db(), &id_hash, &session.id_hash).await?;
        Ok(row.and_then(|row| self.open_page_result(session, &id_hash, &row)))
    }

    fn open_page_result(
        &self,
        session: &SessionInfo,
        id_hash: &str,
        row: &PageResultRow,
    ) -> Option<Zeroizing<Vec<u8>>> {
        self.keyring
            .open_derived(PURPOSE, &aad(id_hash, &session.id_hash), &row.sealed)
            .ok()
    }
}
