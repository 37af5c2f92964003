//! The witness: the signed chain head kept in a file beside the key file, where a database
//! writer cannot reach. The server rewrites it within seconds of every new event and never
//! moves it backwards, so `audit verify` catches the removal of any event the witness has
//! seen, even when the newest events and every checkpoint went together.

use crate::crypto::{checkpoint_message, checkpoint_signature_valid, Keyring};
use crate::store::audit as repo;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const WITNESS_FORMAT: &str = "keyward-audit-witness/v1";

/// A signed chain head as the witness file holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Witness {
    pub format: String,
    pub seq: i64,
    pub head_hash: String,
    pub at: DateTime<Utc>,
    /// The checkpoint key (Ed25519, derived from the keyring's root) in hex.
    pub key_id: String,
    pub signature: String,
}

/// Why a witness file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error("witness file {0}: {1}")]
    Io(String, std::io::ErrorKind),
    #[error("witness file {0} is not a keyward witness")]
    Invalid(String),
}

impl Witness {
    /// Signs the head `(seq, head_hash)` now.
    pub fn sign(keyring: &Keyring, seq: i64, head_hash: &str) -> Self {
        let at = crate::store::now();
        let message = checkpoint_message(seq, head_hash, &stamp(at));
        Self {
            format: WITNESS_FORMAT.to_owned(),
            seq,
            head_hash: head_hash.to_owned(),
            at,
            key_id: keyring.checkpoint_key_id(),
            signature: keyring.sign_checkpoint(&message),
        }
    }

    /// Whether it is signed by the key `key_id` (the keyring's checkpoint key).
    pub fn signed_by(&self, key_id: &str) -> bool {
        self.key_id == key_id
            && checkpoint_signature_valid(
                &self.key_id,
                &checkpoint_message(self.seq, &self.head_hash, &stamp(self.at)),
                &self.signature,
            )
    }

    /// Reads the witness at `path`; `None` when there is no file yet.
    pub fn read(path: &Path) -> Result<Option<Self>, WitnessError> {
        let shown = path.display().to_string();
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(WitnessError::Io(shown, e.kind())),
        };
        let witness: Witness =
            serde_json::from_slice(&bytes).map_err(|_| WitnessError::Invalid(shown.clone()))?;
        if witness.format != WITNESS_FORMAT {
            return Err(WitnessError::Invalid(shown));
        }
        Ok(Some(witness))
    }

    /// Writes `self` to `path` (mode 0600, atomically, durably) unless the file already holds
    /// a later head: a witness never moves backwards. Returns whether it was written.
    pub fn store(&self, path: &Path) -> Result<bool, WitnessError> {
        let shown = path.display().to_string();
        if let Ok(Some(current)) = Self::read(path) {
            if current.seq > self.seq
                || (current.seq == self.seq && current.head_hash == self.head_hash)
            {
                return Ok(false);
            }
        }
        let mut bytes =
            serde_json::to_vec_pretty(self).map_err(|_| WitnessError::Invalid(shown.clone()))?;
        bytes.push(b'\n');
        crate::files::replace_private(path, &bytes)
            .map_err(|e| WitnessError::Io(shown, e.kind()))?;
        Ok(true)
    }
}

/// What [`advance`] did.
#[derive(Debug)]
pub enum Advance {
    /// The witness now holds this head.
    Written(Witness),
    /// The witness already held the head.
    Unchanged(Witness),
    /// The log no longer contains the witnessed head (it was shortened, or rewritten from
    /// scratch): the witness is left as it is, as evidence, and this says why.
    Refused(String),
}

/// Moves the witness at `path` to the current chain head, signed with the keyring's
/// checkpoint key, but only forward along the same chain: the event the witness holds must
/// still be in the log with the same hash (or archived under a retention anchor).
pub async fn advance(
    db: &impl sea_orm::ConnectionTrait,
    keyring: &Keyring,
    path: &Path,
    known: Option<Witness>,
) -> Result<Advance, AdvanceError> {
    let Some((seq, hash)) = repo::head(db).await? else {
        return Ok(Advance::Refused("the audit log is empty".to_owned()));
    };
    let prior = match known {
        Some(w) => Some(w),
        None => Witness::read(path)?,
    };
    if let Some(prior) = prior {
        if prior.seq == seq && prior.head_hash == hash {
            return Ok(Advance::Unchanged(prior));
        }
        if seq < prior.seq {
            return Ok(Advance::Refused(format!(
                "the audit log ends at seq {seq} but the witness saw seq {}",
                prior.seq
            )));
        }
        // Archived events count only under anchors signed with this keyring: an anchor row
        // anyone can insert must not carry the witness onto a forged chain.
        let anchor = super::anchor::signed_anchor_head(db, &keyring.checkpoint_key_id()).await?;
        let still_there = match &anchor {
            Some(a) if prior.seq < a.seq => true,
            Some(a) if prior.seq == a.seq => a.hash == prior.head_hash,
            _ => repo::event(db, prior.seq)
                .await?
                .is_some_and(|e| e.hash == prior.head_hash),
        };
        if !still_there {
            return Ok(Advance::Refused(format!(
                "event {} is no longer the one the witness signed",
                prior.seq
            )));
        }
    }
    let witness = Witness::sign(keyring, seq, &hash);
    witness.store(path)?;
    Ok(Advance::Written(witness))
}

/// Why the witness could not be moved.
#[derive(Debug, thiserror::Error)]
pub enum AdvanceError {
    #[error(transparent)]
    Witness(#[from] WitnessError),
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{KeyFile, KeySource};

    #[test]
    fn a_witness_is_signed_stored_privately_and_never_moves_backwards() {
        let dir = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let keys = dir.path().join("k.json");
        assert!(KeyFile::generate().create(&keys).is_ok());
        let Ok(keyring) = Keyring::load(KeySource::File(keys)) else {
            unreachable!()
        };
        let path = dir.path().join("k.witness.json");
        assert!(matches!(Witness::read(&path), Ok(None)));
        let seven = Witness::sign(&keyring, 7, &"a".repeat(64));
        assert!(seven.signed_by(&keyring.checkpoint_key_id()));
        assert!(matches!(seven.store(&path), Ok(true)));
        let five = Witness::sign(&keyring, 5, &"b".repeat(64));
        assert!(matches!(five.store(&path), Ok(false)));
        assert_eq!(Witness::read(&path).ok().flatten(), Some(seven.clone()));
        // Any edit breaks the signature.
        let mut edited = seven;
        edited.seq = 70;
        assert!(!edited.signed_by(&keyring.checkpoint_key_id()));
    }
}
