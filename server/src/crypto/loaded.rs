//! Key material as read from its source (a key file or an environment variable): the KEKs by
//! id, the active one, the root key, and when the file was last changed.

use super::keyfile::KeyFile;
use super::CryptoError;
use base64::Engine as _;
use std::collections::HashMap;
use std::path::PathBuf;
use zeroize::Zeroizing;

/// Where KEKs come from. A cloud KMS or PKCS#11 provider would be another variant.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A key file written by `keyward keys init`.
    File(PathBuf),
    /// The key file's JSON in an environment variable (name kept for reloads).
    Env(String),
}

pub(super) struct Loaded {
    /// The key file's modification time when loaded, to notice a rotation.
    pub modified: Option<std::time::SystemTime>,
    pub active: String,
    pub keks: HashMap<String, Zeroizing<[u8; 32]>>,
    pub root: Zeroizing<[u8; 32]>,
}

fn decode_key(b64: &str, what: &str) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let bytes = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| CryptoError::KeyringInvalid(format!("{what} is not Base64")))?,
    );
    let mut key = Zeroizing::new([0u8; 32]);
    if bytes.len() != 32 {
        return Err(CryptoError::KeyringInvalid(format!(
            "{what} is not 32 bytes"
        )));
    }
    key.copy_from_slice(&bytes);
    Ok(key)
}

pub(super) fn modified(source: &KeySource) -> Option<std::time::SystemTime> {
    match source {
        KeySource::File(path) => std::fs::metadata(path).and_then(|m| m.modified()).ok(),
        KeySource::Env(_) => None,
    }
}

pub(super) fn load(source: &KeySource) -> Result<Loaded, CryptoError> {
    let modified = modified(source);
    let file = match source {
        KeySource::File(path) => KeyFile::read(path)?,
        KeySource::Env(var) => {
            let text = Zeroizing::new(
                std::env::var(var)
                    .map_err(|_| CryptoError::KeyringInvalid(format!("{var} is not set")))?,
            );
            KeyFile::parse(&text)?
        }
    };
    let mut keks = HashMap::new();
    for entry in &file.keys {
        keks.insert(
            entry.id.clone(),
            decode_key(&entry.material, &format!("key {}", entry.id))?,
        );
    }
    if !keks.contains_key(&file.active) {
        return Err(CryptoError::KeyringInvalid(format!(
            "the active key {} is not in the file",
            file.active
        )));
    }
    Ok(Loaded {
        modified,
        active: file.active.clone(),
        keks,
        root: decode_key(&file.root, "the root key")?,
    })
}
