//! The on-disk keyring format (JSON, mode 0600): versioned KEKs plus a root key for derived keys.

use super::CryptoError;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;
use zeroize::Zeroizing;

pub const KEY_FILE_FORMAT: &str = "keyward-keyring/v1";

/// One KEK as stored: id, creation time, Base64 material.
#[derive(Serialize, Deserialize)]
pub struct KeyEntry {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub material: Zeroizing<String>,
}

/// The whole key file.
#[derive(Serialize, Deserialize)]
pub struct KeyFile {
    pub format: String,
    pub active: String,
    pub keys: Vec<KeyEntry>,
    /// Root for HKDF-derived keys with other purposes (backup-code lookup, audit anchoring).
    pub root: Zeroizing<String>,
}

fn random_key_b64() -> Zeroizing<String> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(bytes.as_mut());
    Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&bytes[..]))
}

impl KeyFile {
    /// A new keyring with one KEK (`kek-0001`) and a fresh root key.
    pub fn generate() -> Self {
        Self {
            format: KEY_FILE_FORMAT.to_owned(),
            active: "kek-0001".to_owned(),
            keys: vec![KeyEntry {
                id: "kek-0001".to_owned(),
                created_at: Utc::now(),
                material: random_key_b64(),
            }],
            root: random_key_b64(),
        }
    }

    /// Adds a KEK with the next version number and makes it active; returns its id.
    pub fn add_key(&mut self) -> String {
        let next = self
            .keys
            .iter()
            .filter_map(|k| {
                k.id.strip_prefix("kek-")
                    .and_then(|n| n.parse::<u32>().ok())
            })
            .max()
            .unwrap_or(0)
            + 1;
        let id = format!("kek-{next:04}");
        self.keys.push(KeyEntry {
            id: id.clone(),
            created_at: Utc::now(),
            material: random_key_b64(),
        });
        self.active = id.clone();
        id
    }

    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let file: KeyFile = serde_json::from_str(text).map_err(|e| {
            CryptoError::KeyringInvalid(format!("not a keyward key file ({:?})", e.classify()))
        })?;
        if file.format != KEY_FILE_FORMAT {
            return Err(CryptoError::KeyringInvalid(format!(
                "unknown format {:?}, expected {KEY_FILE_FORMAT}",
                file.format
            )));
        }
        Ok(file)
    }

    pub fn read(path: &Path) -> Result<Self, CryptoError> {
        let shown = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => CryptoError::KeyFileMissing(shown.clone()),
            _ => CryptoError::KeyFileUnreadable {
                path: shown.clone(),
                reason: e.kind().to_string(),
            },
        })?;
        check_mode(&meta, &shown)?;
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            CryptoError::KeyFileUnreadable {
                path: shown.clone(),
                reason: e.kind().to_string(),
            }
        })?);
        Self::parse(&text)
    }

    /// Writes a new file with mode 0600; refuses to overwrite an existing one.
    pub fn create(&self, path: &Path) -> Result<(), CryptoError> {
        let shown = path.display().to_string();
        let mut file = crate::files::create_private(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => CryptoError::KeyFileExists(shown.clone()),
            _ => CryptoError::KeyFileUnreadable {
                path: shown.clone(),
                reason: e.kind().to_string(),
            },
        })?;
        self.write_to(&mut file, &shown)
    }

    /// Replaces an existing file atomically (temporary file, fsync, rename, fsync of the
    /// directory), keeping mode 0600.
    pub fn replace(&self, path: &Path) -> Result<(), CryptoError> {
        let text = Zeroizing::new(
            serde_json::to_string_pretty(self)
                .map_err(|_| CryptoError::KeyringInvalid("cannot serialise".into()))?
                + "\n",
        );
        crate::files::replace_private(path, text.as_bytes()).map_err(|e| {
            CryptoError::KeyFileUnreadable {
                path: path.display().to_string(),
                reason: e.kind().to_string(),
            }
        })
    }

    fn write_to(&self, file: &mut std::fs::File, shown: &str) -> Result<(), CryptoError> {
        let text = Zeroizing::new(
            serde_json::to_string_pretty(self)
                .map_err(|_| CryptoError::KeyringInvalid("cannot serialise".into()))?,
        );
        file.write_all(text.as_bytes())
            .and_then(|_| file.write_all(b"\n"))
            .and_then(|_| file.sync_all())
            .map_err(|e| CryptoError::KeyFileUnreadable {
                path: shown.to_owned(),
                reason: e.kind().to_string(),
            })
    }
}

#[cfg(unix)]
fn check_mode(meta: &std::fs::Metadata, shown: &str) -> Result<(), CryptoError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CryptoError::KeyFileTooOpen {
            path: shown.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_meta: &std::fs::Metadata, _shown: &str) -> Result<(), CryptoError> {
    Ok(())
}
