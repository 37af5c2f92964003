//! Row integrity MACs: HMAC-SHA256 over a row's table, id and the columns that decide
//! something, under a key derived from a KEK for this purpose only. The stored form names the
//! KEK (`kek-0002:…`), so rows MAC'ed before `keys rotate` still verify and are re-MAC'ed
//! online; someone who can write the database but holds no key file cannot make one.

use super::loaded::row_mac_key;
use super::{CryptoError, Keyring};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const DOMAIN: &[u8] = b"keyward/v1/row\0";

/// The bytes a row's MAC is computed over: its table, its id and each covered column, every
/// part length-prefixed so no two rows encode alike.
#[derive(Debug, Clone)]
pub struct RowFacts {
    bytes: Vec<u8>,
}

impl RowFacts {
    pub fn new(table: &str, id: &str) -> Self {
        let mut facts = Self {
            bytes: DOMAIN.to_vec(),
        };
        facts.push(Some(table.as_bytes()));
        facts.push(Some(id.as_bytes()));
        facts
    }

    fn push(&mut self, part: Option<&[u8]>) {
        match part {
            Some(bytes) => {
                self.bytes
                    .extend_from_slice(&(bytes.len() as u32).to_be_bytes());
                self.bytes.extend_from_slice(bytes);
            }
            None => self.bytes.extend_from_slice(&u32::MAX.to_be_bytes()),
        }
    }

    pub fn text(mut self, value: &str) -> Self {
        self.push(Some(value.as_bytes()));
        self
    }

    pub fn opt_text(mut self, value: Option<&str>) -> Self {
        self.push(value.map(str::as_bytes));
        self
    }

    pub fn bytes(mut self, value: &[u8]) -> Self {
        self.push(Some(value));
        self
    }

    pub fn opt_bytes(mut self, value: Option<&[u8]>) -> Self {
        self.push(value);
        self
    }

    pub fn int(mut self, value: i64) -> Self {
        self.push(Some(&value.to_be_bytes()));
        self
    }

    pub fn opt_int(mut self, value: Option<i64>) -> Self {
        self.push(
            value
                .map(i64::to_be_bytes)
                .as_ref()
                .map(<[u8; 8]>::as_slice),
        );
        self
    }

    pub fn flag(self, value: bool) -> Self {
        self.int(i64::from(value))
    }

    pub fn time(self, value: chrono::DateTime<chrono::Utc>) -> Self {
        self.int(value.timestamp_micros())
    }

    pub fn opt_time(mut self, value: Option<chrono::DateTime<chrono::Utc>>) -> Self {
        let micros = value.map(|t| t.timestamp_micros().to_be_bytes());
        self.push(micros.as_ref().map(|b| b.as_slice()));
        self
    }
}

/// The MAC of `facts` under a row-MAC key (see `loaded::row_mac_key`).
fn mac_of(row_mac_key: &[u8; 32], facts: &RowFacts) -> Result<Hmac<Sha256>, CryptoError> {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(row_mac_key.as_ref())
        .map_err(|_| CryptoError::Encrypt)?;
    mac.update(&facts.bytes);
    Ok(mac)
}

impl Keyring {
    /// The row's MAC under the active KEK, in its stored form `KEK-ID:HEX`.
    pub fn row_mac(&self, facts: &RowFacts) -> Result<String, CryptoError> {
        let id = self.active_id();
        let tag = self.with_kek(&id, |kek| {
            Ok(hex::encode(
                mac_of(&row_mac_key(kek), facts)?.finalize().into_bytes(),
            ))
        })?;
        Ok(format!("{id}:{tag}"))
    }

    /// Whether `stored` is the row's MAC (under whichever KEK it names); compared in constant
    /// time. A missing MAC, an unknown KEK or a malformed value is simply not valid.
    pub fn row_mac_valid(&self, facts: &RowFacts, stored: Option<&str>) -> bool {
        let Some((id, tag)) = stored.and_then(|s| s.rsplit_once(':')) else {
            return false;
        };
        let Ok(tag) = hex::decode(tag) else {
            return false;
        };
        // A KEK id the keyring does not hold: the key file is re-read only when it changed
        // since it was loaded (`keys rotate` on another host), so a planted row cannot make
        // every read reload it.
        if !self.read(|l| l.keks.contains_key(id)) {
            let _ = self.active_id();
        }
        self.read(|l| {
            l.row_mac_keys
                .get(id)
                .and_then(|key| mac_of(key, facts).ok())
                .is_some_and(|mac| mac.verify_slice(&tag).is_ok())
        })
    }

    /// Whether a stored MAC is under the active KEK (else key rotation re-MACs the row).
    pub fn row_mac_current(&self, stored: Option<&str>) -> bool {
        let active = self.active_id();
        stored
            .and_then(|s| s.rsplit_once(':'))
            .is_some_and(|(id, _)| id == active)
    }

    /// A secret value's fingerprint: HMAC-SHA256 under a key of its own purpose derived from
    /// the root (so it survives KEK rotation), over the account, the kind and the value, each
    /// length-prefixed. It tells "the same value again" without being a hash of the value.
    pub fn fingerprint(&self, account_id: &str, kind: &str, value: &[u8]) -> String {
        let key = self.derive("keyward/v1/secret-fingerprint");
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key.as_ref()) else {
            return String::new();
        };
        for part in [account_id.as_bytes(), kind.as_bytes(), value] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        hex::encode(mac.finalize().into_bytes())
    }

    /// A keyed hash for finding a row by a secret the caller presents (a service token, a
    /// session id): HMAC-SHA256 under a root-derived key, so a database writer cannot compute
    /// the hash of a value they chose.
    pub fn lookup_hash(&self, purpose: &str, value: &str) -> String {
        let key = self.derive(purpose);
        // HMAC takes keys of any length, so this cannot fail.
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key.as_ref()) else {
            return String::new();
        };
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{KeyFile, KeySource};

    fn ring(dir: &std::path::Path) -> Keyring {
        let path = dir.join("keys.json");
        assert!(KeyFile::generate().create(&path).is_ok());
        Keyring::load(KeySource::File(path)).unwrap_or_else(|_| unreachable!("keyring loads"))
    }

    #[test]
    fn a_mac_binds_table_id_and_every_fact() {
        let dir = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let keys = ring(dir.path());
        let facts = RowFacts::new("account", "a1").text("team-1").opt_text(None);
        let mac = keys.row_mac(&facts).unwrap_or_default();
        assert!(keys.row_mac_valid(&facts, Some(&mac)));
        assert!(keys.row_mac_current(Some(&mac)));
        for other in [
            RowFacts::new("account", "a2").text("team-1").opt_text(None),
            RowFacts::new("member", "a1").text("team-1").opt_text(None),
            RowFacts::new("account", "a1").text("team-2").opt_text(None),
            RowFacts::new("account", "a1")
                .text("team-1")
                .opt_text(Some("")),
            // Length prefixes: moving a byte between two facts changes the MAC.
            RowFacts::new("account", "a1").text("team-").text("1"),
        ] {
            assert!(!keys.row_mac_valid(&other, Some(&mac)));
        }
        assert!(!keys.row_mac_valid(&facts, None));
        assert!(!keys.row_mac_valid(&facts, Some("kek-0001:00")));
        assert!(!keys.row_mac_valid(&facts, Some("nonsense")));
        // Another key file's MAC of the same facts does not verify here.
        let other_dir = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let foreign = ring(other_dir.path()).row_mac(&facts).unwrap_or_default();
        assert!(!keys.row_mac_valid(&facts, Some(&foreign)));
    }

    #[test]
    fn lookup_hashes_are_keyed() {
        let a = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let b = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let (ka, kb) = (ring(a.path()), ring(b.path()));
        assert_eq!(ka.lookup_hash("p", "kw_x"), ka.lookup_hash("p", "kw_x"));
        assert_ne!(ka.lookup_hash("p", "kw_x"), kb.lookup_hash("p", "kw_x"));
        assert_ne!(ka.lookup_hash("p", "kw_x"), ka.lookup_hash("q", "kw_x"));
    }

    #[test]
    fn the_keys_kept_once_derived_follow_a_rotation() {
        let dir = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let path = dir.path().join("keys.json");
        let mut file = KeyFile::generate();
        assert!(file.create(&path).is_ok());
        let keys = Keyring::load(KeySource::File(path.clone())).unwrap_or_else(|_| unreachable!());
        let facts = RowFacts::new("account", "a1").text("team-1");
        let before = keys.row_mac(&facts).unwrap_or_default();
        let lookup = keys.lookup_hash("p", "kw_x");
        // Rotate: a new active KEK; the old one stays to open and verify what it made.
        let added = file.add_key();
        assert!(file.replace(&path).is_ok());
        assert!(keys.reload().is_ok());
        let after = keys.row_mac(&facts).unwrap_or_default();
        assert!(after.starts_with(&format!("{added}:")), "{after}");
        assert_ne!(before, after);
        assert!(keys.row_mac_valid(&facts, Some(&before)));
        assert!(keys.row_mac_valid(&facts, Some(&after)));
        // The root is the same: so are the keys derived from it, kept or not.
        assert_eq!(keys.lookup_hash("p", "kw_x"), lookup);
        assert_ne!(keys.lookup_hash("q", "kw_x"), lookup);
    }
}
