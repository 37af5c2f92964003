//! The loaded keyring: KEKs by id, the active one for new DEKs, and where they came from.
//! An unknown KEK id triggers one reload, so `keys rotate` works while the server runs.

use super::keyfile::KeyFile;
use super::CryptoError;
use base64::Engine as _;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::RwLock;
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

/// Versioned KEKs in memory.
pub struct Keyring {
    source: KeySource,
    loaded: RwLock<Loaded>,
    /// Check values the database holds for key ids (see `check`): what writing requires.
    expected: RwLock<BTreeMap<String, String>>,
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

fn modified(source: &KeySource) -> Option<std::time::SystemTime> {
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

impl Keyring {
    /// Loads the keyring; fails closed with a message naming the file.
    pub fn load(source: KeySource) -> Result<Self, CryptoError> {
        let loaded = load(&source)?;
        Ok(Self {
            source,
            loaded: RwLock::new(loaded),
            expected: RwLock::new(BTreeMap::new()),
        })
    }

    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// Id of the KEK that wraps new DEKs. A key file rotated since loading is re-read first,
    /// so new DEKs never go to a retired KEK.
    pub fn active_id(&self) -> String {
        let stale = self.read(|l| l.modified) != modified(&self.source);
        if stale {
            // If the new file cannot be read, keep the keys already held.
            if let Err(err) = self.reload() {
                tracing::warn!(error = %err, "key file changed but could not be reloaded");
            }
        }
        self.read(|l| l.active.clone())
    }

    /// Ids of every KEK held.
    pub fn key_ids(&self) -> Vec<String> {
        let mut ids = self.read(|l| l.keks.keys().cloned().collect::<Vec<_>>());
        ids.sort();
        ids
    }

    /// Re-reads the source, e.g. after `keys rotate` added a KEK. A file in which a key the
    /// database knows has changed material is refused, and the keys already held are kept.
    pub fn reload(&self) -> Result<(), CryptoError> {
        let fresh = load(&self.source)?;
        if let Some(id) = super::check::mismatched(&fresh, &self.expected()).pop() {
            return Err(CryptoError::KeyMismatch(id));
        }
        if let Ok(mut guard) = self.loaded.write() {
            *guard = fresh;
        }
        Ok(())
    }

    pub(super) fn expected(&self) -> BTreeMap<String, String> {
        match self.expected.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub(super) fn set_expected(&self, recorded: BTreeMap<String, String>) {
        match self.expected.write() {
            Ok(mut guard) => *guard = recorded,
            Err(poisoned) => *poisoned.into_inner() = recorded,
        }
    }

    pub(super) fn read<T>(&self, f: impl FnOnce(&Loaded) -> T) -> T {
        // A poisoned lock only means a panic elsewhere mid-read; the data is still whole.
        match self.loaded.read() {
            Ok(guard) => f(&guard),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }

    /// Runs `f` with the KEK `id`, reloading the source once if the id is unknown.
    pub(super) fn with_kek<T>(
        &self,
        id: &str,
        f: impl Fn(&[u8; 32]) -> Result<T, CryptoError>,
    ) -> Result<T, CryptoError> {
        let attempt = self.read(|l| l.keks.get(id).map(|k| f(k)));
        match attempt {
            Some(result) => result,
            None => {
                self.reload()?;
                self.read(|l| l.keks.get(id).map(|k| f(k)))
                    .unwrap_or_else(|| Err(CryptoError::UnknownKey(id.to_owned())))
            }
        }
    }

    /// A 32-byte key for another purpose, derived from the root with HKDF-SHA256.
    pub fn derive(&self, purpose: &str) -> Zeroizing<[u8; 32]> {
        self.read(|l| {
            let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"keyward/v1/derive"), l.root.as_ref());
            let mut out = Zeroizing::new([0u8; 32]);
            // 32 bytes is far below HKDF-SHA256's output limit, so expand cannot fail.
            let _ = hk.expand(purpose.as_bytes(), out.as_mut());
            out
        })
    }
}
