//! Keys and envelope encryption: the keyring of versioned KEKs, per-version DEKs sealed with
//! AES-256-GCM and bound to their row by AAD. Nothing here logs or prints key material.

mod check;
mod checkpoint;
mod envelope;
pub mod escrow;
mod integrity;
mod keyfile;
mod keyring;
mod loaded;
mod lookup;

pub use check::ROOT_KEY_ID;
pub use checkpoint::{anchor_message, checkpoint_message, checkpoint_signature_valid};
pub use envelope::{backup_code_aad, open_with_dek, secret_aad, Sealed, SealedSet};
pub use integrity::RowFacts;
pub use keyfile::{KeyFile, KEY_FILE_FORMAT};
pub use keyring::Keyring;
pub use loaded::KeySource;

/// Whether two byte strings are equal, in time that depends on their length only.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Crypto failures. Messages name files and key ids, never material.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("key file {0} does not exist; create one with `keyward keys init --key-file {0}`")]
    KeyFileMissing(String),
    #[error("key file {path} cannot be read: {reason}")]
    KeyFileUnreadable { path: String, reason: String },
    #[error("key file {path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`")]
    KeyFileTooOpen { path: String, mode: u32 },
    #[error("key file {0} exists already; refusing to overwrite it")]
    KeyFileExists(String),
    #[error("the keyring is invalid: {0}")]
    KeyringInvalid(String),
    #[error("key {0} is not in the keyring")]
    UnknownKey(String),
    #[error("key {0} in the key file is not the key this database was written with (its key check value differs); restore the right key file")]
    KeyMismatch(String),
    #[error(
        "key {0} is not yet recorded in the database; nothing is written under it until it is"
    )]
    KeyUnproven(String),
    #[error("decryption failed: wrong key, or the data was altered or moved")]
    Decrypt,
    #[error("encryption failed")]
    Encrypt,
}
