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
    /// Each KEK's row-MAC key (HKDF of the KEK), derived once here rather than on every row
    /// checked: a reveal checks three rows.
    pub row_mac_keys: HashMap<String, Zeroizing<[u8; 32]>>,
    pub root: Zeroizing<[u8; 32]>,
    /// Keys derived from the root by purpose (`Keyring::derive`), kept once derived: every
    /// token or session lookup hashes under one. A reload starts it afresh.
    pub derived: std::sync::Mutex<HashMap<String, Zeroizing<[u8; 32]>>>,
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
    let row_mac_keys = keks
        .iter()
        .map(|(id, kek)| (id.clone(), row_mac_key(kek)))
        .collect();
    Ok(Loaded {
        modified,
        active: file.active.clone(),
        keks,
        row_mac_keys,
        root: decode_key(&file.root, "the root key")?,
        derived: std::sync::Mutex::default(),
    })
}

/// The salt of the row-MAC keys (see `integrity`).
const ROW_MAC_SALT: &[u8] = b"keyward/v1/row-integrity";

/// The row-MAC key of a KEK (kept per KEK in the loaded keyring).
pub(super) fn row_mac_key(kek: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(ROW_MAC_SALT), kek);
    let mut out = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's output limit, so expand cannot fail.
    let _ = hk.expand(b"row-mac", out.as_mut());
    out
}
