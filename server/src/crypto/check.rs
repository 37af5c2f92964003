//! Key check values: a one-way fingerprint of each KEK and of the root key, recorded in the
//! database the first time a key is used. A key file whose key has the right id but other
//! material (a fresh `keys init`, a flipped byte) is caught before anything is written under it.

use super::loaded::Loaded;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::BTreeMap;

/// The id under which the root key's check value is recorded (KEK ids are `kek-NNNN`).
pub const ROOT_KEY_ID: &str = "root";

const LABEL: &[u8] = b"keyward/v1/key-check-value";

/// HMAC-SHA256 of a fixed label under `key`, in hex: shows whether two keys are the same
/// without revealing either.
fn check_value(key: &[u8; 32]) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(LABEL);
    hex::encode(mac.finalize().into_bytes())
}

/// Check values of every key held: each KEK by id, and the root under [`ROOT_KEY_ID`].
pub(super) fn checks_of(loaded: &Loaded) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = loaded
        .keks
        .iter()
        .map(|(id, key)| (id.clone(), check_value(key)))
        .collect();
    out.insert(ROOT_KEY_ID.to_owned(), check_value(&loaded.root));
    out
}

/// The check value of one key held, by id.
pub(super) fn check_of(loaded: &Loaded, id: &str) -> Option<String> {
    if id == ROOT_KEY_ID {
        return Some(check_value(&loaded.root));
    }
    loaded.keks.get(id).map(|key| check_value(key))
}

/// Keys whose material differs from what `expected` (the database's record) says.
pub(super) fn mismatched(loaded: &Loaded, expected: &BTreeMap<String, String>) -> Vec<String> {
    checks_of(loaded)
        .into_iter()
        .filter(|(id, value)| expected.get(id).is_some_and(|e| e != value))
        .map(|(id, _)| id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{CryptoError, KeyFile, KeySource, Keyring};

    fn ring(dir: &std::path::Path, name: &str) -> Keyring {
        let path = dir.join(name);
        assert!(KeyFile::generate().create(&path).is_ok());
        match Keyring::load(KeySource::File(path)) {
            Ok(ring) => ring,
            Err(_) => unreachable!("keyring loads"),
        }
    }

    #[test]
    fn nothing_is_sealed_under_a_key_the_database_does_not_vouch_for() {
        let dir = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let good = ring(dir.path(), "a.json");
        let other = ring(dir.path(), "b.json");
        assert!(matches!(
            good.seal("s1", "aad", b"x"),
            Err(CryptoError::KeyUnproven(id)) if id == "kek-0001"
        ));
        // The other file has the same key id but other material.
        good.accept_checks(other.key_checks());
        assert!(matches!(
            good.seal("s1", "aad", b"x"),
            Err(CryptoError::KeyMismatch(id)) if id == "kek-0001"
        ));
        assert!(good.seal_derived("purpose", "aad", b"x").is_err());
        good.accept_checks(good.key_checks());
        assert!(good.seal("s1", "aad", b"x").is_ok());
        assert!(good.unproven().is_empty());
    }

    #[test]
    fn a_reload_that_would_change_a_known_key_is_refused_and_the_held_keys_stay() {
        let dir = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let path = dir.path().join("k.json");
        let good = ring(dir.path(), "k.json");
        good.accept_checks(good.key_checks());
        let before = good.key_checks();
        // Another `keys init` over the same path: kek-0001 again, other material.
        assert!(std::fs::remove_file(&path).is_ok());
        assert!(KeyFile::generate().create(&path).is_ok());
        assert!(matches!(good.reload(), Err(CryptoError::KeyMismatch(_))));
        assert_eq!(good.key_checks(), before);
        assert_eq!(
            good.source_mismatches().ok(),
            Some(vec!["kek-0001".to_owned(), ROOT_KEY_ID.to_owned()])
        );
        assert!(good.seal("s1", "aad", b"x").is_ok(), "still the proven key");
    }

    #[test]
    fn check_values_differ_per_key_and_never_equal_the_key() {
        let dir = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let a = ring(dir.path(), "a.json").key_checks();
        let b = ring(dir.path(), "b.json").key_checks();
        assert_eq!(a.len(), 2, "kek-0001 and root");
        assert_ne!(a.get("kek-0001"), b.get("kek-0001"));
        assert_ne!(a.get(ROOT_KEY_ID), b.get(ROOT_KEY_ID));
        assert!(a.values().all(|v| v.len() == 64));
    }
}
