//! The loaded keyring: KEKs by id, the active one for new DEKs, and where they came from.
//! An unknown KEK id triggers one reload, so `keys rotate` works while the server runs.

use super::check::{check_of, checks_of, mismatched};
use super::loaded::{load, modified, KeySource, Loaded};
use super::CryptoError;
use std::collections::BTreeMap;
use std::sync::RwLock;
use zeroize::Zeroizing;

/// Versioned KEKs in memory.
pub struct Keyring {
    source: KeySource,
    loaded: RwLock<Loaded>,
    /// Check values the database holds for key ids (see `check`): what writing requires.
    expected: RwLock<BTreeMap<String, String>>,
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
        if let Some(id) = mismatched(&fresh, &self.expected()).pop() {
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

    /// A 32-byte key for another purpose, derived from the root with HKDF-SHA256 (once per
    /// purpose and load: the purposes are the code's own constants, a few dozen at most).
    pub fn derive(&self, purpose: &str) -> Zeroizing<[u8; 32]> {
        /// More purposes than the code has: nothing beyond is kept.
        const KEPT: usize = 64;
        self.read(|l| {
            if let Some(key) = l.derived.lock().ok().and_then(|d| d.get(purpose).cloned()) {
                return key;
            }
            let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"keyward/v1/derive"), l.root.as_ref());
            let mut out = Zeroizing::new([0u8; 32]);
            // 32 bytes is far below HKDF-SHA256's output limit, so expand cannot fail.
            let _ = hk.expand(purpose.as_bytes(), out.as_mut());
            if let Ok(mut kept) = l.derived.lock() {
                if kept.len() < KEPT {
                    kept.insert(purpose.to_owned(), out.clone());
                }
            }
            out
        })
    }
}

impl Keyring {
    /// Check values of every key held (KEKs and the root).
    pub fn key_checks(&self) -> BTreeMap<String, String> {
        self.read(checks_of)
    }

    /// Takes the check values the database holds. From now on a key is used for writing only
    /// when its check value is among them, and a reload that changes a known key is refused.
    pub fn accept_checks(&self, recorded: BTreeMap<String, String>) {
        self.set_expected(recorded);
    }

    /// Keys held whose check value the database does not (yet) vouch for.
    pub fn unproven(&self) -> Vec<String> {
        let expected = self.expected();
        self.key_checks()
            .into_iter()
            .filter(|(id, value)| expected.get(id) != Some(value))
            .map(|(id, _)| id)
            .collect()
    }

    /// Keys in the key source *as it is now on disk* whose material differs from the
    /// database's record (a running keyring refuses such a file on reload and keeps its keys,
    /// so this is how a swapped key file shows before the next start).
    pub fn source_mismatches(&self) -> Result<Vec<String>, CryptoError> {
        let fresh = load(self.source())?;
        Ok(mismatched(&fresh, &self.expected()))
    }

    /// Refuses to write under `id` unless the database vouches for its material.
    pub(super) fn require_proven(&self, id: &str) -> Result<(), CryptoError> {
        let held = self.read(|l| check_of(l, id));
        match (held, self.expected().get(id)) {
            (Some(value), Some(recorded)) if &value == recorded => Ok(()),
            (Some(_), Some(_)) => Err(CryptoError::KeyMismatch(id.to_owned())),
            (Some(_), None) => Err(CryptoError::KeyUnproven(id.to_owned())),
            (None, _) => Err(CryptoError::UnknownKey(id.to_owned())),
        }
    }
}
