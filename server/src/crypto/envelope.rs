//! Envelope encryption: a random DEK per secret version seals the value (AES-256-GCM, AAD =
//! the value's place); the active KEK wraps the DEK (AAD = KEK id + owner id).

use super::{CryptoError, Keyring};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use zeroize::Zeroizing;

const NONCE_LEN: usize = 12;

/// A sealed value as stored: ciphertext, wrapped DEK, and the KEK that wrapped it.
#[derive(Clone)]
pub struct Sealed {
    pub ciphertext: Vec<u8>,
    pub wrapped_dek: Vec<u8>,
    pub kek_id: String,
}

/// Several values sealed under one DEK (a backup-code generation: one DEK, one row per code).
pub struct SealedSet {
    pub ciphertexts: Vec<Vec<u8>>,
    pub wrapped_dek: Vec<u8>,
    pub kek_id: String,
}

/// The AAD that binds a backup code to its generation and position.
pub fn backup_code_aad(account_id: &str, generation_id: &str, position: i32) -> String {
    format!("keyward/v1/backup/{account_id}/{generation_id}/{position}")
}

/// The AAD that binds a secret value to its row.
pub fn secret_aad(account_id: &str, secret_id: &str, version: i32, kind: &str) -> String {
    format!("keyward/v1/secret/{account_id}/{secret_id}/{version}/{kind}")
}

fn dek_aad(kek_id: &str, owner_id: &str) -> String {
    format!("keyward/v1/dek/{kek_id}/{owner_id}")
}

fn seal_with(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| CryptoError::Encrypt)?;
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| CryptoError::Encrypt)?;
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

fn open_with(key: &[u8], aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if sealed.len() < NONCE_LEN + 16 {
        return Err(CryptoError::Decrypt);
    }
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| CryptoError::Decrypt)?;
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad })
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Decrypt)
}

/// Opens a value with its DEK in hand (break-glass: the DEK came from an escrow, not a KEK).
pub fn open_with_dek(
    dek: &[u8],
    aad: &str,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    open_with(dek, aad.as_bytes(), ciphertext)
}

impl Keyring {
    /// Seals `plaintext` for `owner_id` (the secret row) under a fresh DEK.
    pub fn seal(&self, owner_id: &str, aad: &str, plaintext: &[u8]) -> Result<Sealed, CryptoError> {
        let kek_id = self.active_id();
        self.require_proven(&kek_id)?;
        let mut dek = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(dek.as_mut());
        let ciphertext = seal_with(&dek, aad.as_bytes(), plaintext)?;
        let wrapped_dek = self.with_kek(&kek_id, |kek| {
            seal_with(kek, dek_aad(&kek_id, owner_id).as_bytes(), dek.as_ref())
        })?;
        Ok(Sealed {
            ciphertext,
            wrapped_dek,
            kek_id,
        })
    }

    /// Seals each `(aad, plaintext)` under one fresh DEK owned by `owner_id`.
    pub fn seal_set<'a>(
        &self,
        owner_id: &str,
        items: impl IntoIterator<Item = (String, &'a [u8])>,
    ) -> Result<SealedSet, CryptoError> {
        let kek_id = self.active_id();
        self.require_proven(&kek_id)?;
        let mut dek = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(dek.as_mut());
        let ciphertexts = items
            .into_iter()
            .map(|(aad, plaintext)| seal_with(&dek, aad.as_bytes(), plaintext))
            .collect::<Result<Vec<_>, _>>()?;
        let wrapped_dek = self.with_kek(&kek_id, |kek| {
            seal_with(kek, dek_aad(&kek_id, owner_id).as_bytes(), dek.as_ref())
        })?;
        Ok(SealedSet {
            ciphertexts,
            wrapped_dek,
            kek_id,
        })
    }

    /// Opens one member of a sealed set.
    pub fn open_member(
        &self,
        owner_id: &str,
        wrapped_dek: &[u8],
        kek_id: &str,
        aad: &str,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let dek = self.unwrap_dek(owner_id, wrapped_dek, kek_id)?;
        open_with(&dek, aad.as_bytes(), ciphertext)
    }

    /// Opens a sealed value; fails if the key, the AAD or any byte is wrong.
    pub fn open(
        &self,
        owner_id: &str,
        aad: &str,
        sealed: &Sealed,
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let dek = self.unwrap_dek(owner_id, &sealed.wrapped_dek, &sealed.kek_id)?;
        open_with(&dek, aad.as_bytes(), &sealed.ciphertext)
    }

    /// A stored DEK in clear, to seal it to a break-glass escrow (never stored or logged).
    pub(crate) fn dek(
        &self,
        owner_id: &str,
        wrapped: &[u8],
        kek_id: &str,
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        self.unwrap_dek(owner_id, wrapped, kek_id)
    }

    /// Whether the KEK `kek_id` held here unwraps this stored DEK (proves the key's material).
    pub fn opens_dek(&self, owner_id: &str, wrapped: &[u8], kek_id: &str) -> bool {
        self.unwrap_dek(owner_id, wrapped, kek_id).is_ok()
    }

    fn unwrap_dek(
        &self,
        owner_id: &str,
        wrapped: &[u8],
        kek_id: &str,
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        self.with_kek(kek_id, |kek| {
            open_with(kek, dek_aad(kek_id, owner_id).as_bytes(), wrapped)
        })
    }

    /// Seals short-lived data (e.g. an OIDC login in progress) under a key derived for `purpose`.
    pub fn seal_derived(
        &self,
        purpose: &str,
        aad: &str,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        self.require_proven(super::ROOT_KEY_ID)?;
        seal_with(&self.derive(purpose), aad.as_bytes(), plaintext)
    }

    pub fn open_derived(
        &self,
        purpose: &str,
        aad: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        open_with(self.derive(purpose).as_ref(), aad.as_bytes(), sealed)
    }

    /// Re-wraps a DEK under the active KEK without touching the value; returns (wrapped, kek id).
    pub fn rewrap(
        &self,
        owner_id: &str,
        wrapped: &[u8],
        kek_id: &str,
    ) -> Result<(Vec<u8>, String), CryptoError> {
        let active = self.active_id();
        self.require_proven(&active)?;
        let dek = self.unwrap_dek(owner_id, wrapped, kek_id)?;
        let rewrapped = self.with_kek(&active, |kek| {
            seal_with(kek, dek_aad(&active, owner_id).as_bytes(), &dek)
        })?;
        Ok((rewrapped, active))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{KeyFile, KeySource};

    fn keyring_in(dir: &std::path::Path, name: &str) -> (Keyring, std::path::PathBuf) {
        let path = dir.join(name);
        let created = KeyFile::generate().create(&path);
        assert!(created.is_ok());
        let ring = Keyring::load(KeySource::File(path.clone()));
        let Ok(ring) = ring else {
            unreachable!("keyring loads")
        };
        // As if the database had recorded this keyring's check values.
        ring.accept_checks(ring.key_checks());
        (ring, path)
    }

    #[test]
    fn a_sealed_value_opens_only_with_its_own_aad_and_owner() {
        let dir = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let (ring, _) = keyring_in(dir.path(), "k.json");
        let aad = secret_aad("acc1", "sec1", 1, "totp");
        let Ok(sealed) = ring.seal("sec1", &aad, b"JBSWY3DPEHPK3PXP") else {
            unreachable!()
        };
        assert_eq!(
            ring.open("sec1", &aad, &sealed).map(|p| p.to_vec()).ok(),
            Some(b"JBSWY3DPEHPK3PXP".to_vec())
        );
        assert!(!sealed
            .ciphertext
            .windows(16)
            .any(|w| w == b"JBSWY3DPEHPK3PXP"));
        // Moved to another account, another version or another kind: refused.
        for other in [
            secret_aad("acc2", "sec1", 1, "totp"),
            secret_aad("acc1", "sec1", 2, "totp"),
            secret_aad("acc1", "sec1", 1, "hotp"),
        ] {
            assert!(matches!(
                ring.open("sec1", &other, &sealed),
                Err(CryptoError::Decrypt)
            ));
        }
        // The DEK moved to another secret row: refused.
        assert!(matches!(
            ring.open("sec2", &aad, &sealed),
            Err(CryptoError::Decrypt)
        ));
        // One flipped bit: refused.
        let mut tampered = sealed.clone();
        if let Some(last) = tampered.ciphertext.last_mut() {
            *last ^= 1;
        }
        assert!(matches!(
            ring.open("sec1", &aad, &tampered),
            Err(CryptoError::Decrypt)
        ));
    }

    #[test]
    fn a_sealed_set_shares_one_dek_but_each_member_is_bound_to_its_position() {
        let dir = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let (ring, _) = keyring_in(dir.path(), "k.json");
        let items = [
            (backup_code_aad("a", "g", 1), b"1111 1111".as_slice()),
            (backup_code_aad("a", "g", 2), b"2222 2222".as_slice()),
        ];
        let Ok(set) = ring.seal_set("g", items.clone()) else {
            unreachable!()
        };
        let open = |aad: &str, ct: &[u8]| {
            ring.open_member("g", &set.wrapped_dek, &set.kek_id, aad, ct)
                .map(|p| p.to_vec())
        };
        assert_eq!(
            open(&items[1].0, &set.ciphertexts[1]).ok(),
            Some(b"2222 2222".to_vec())
        );
        // Code 1's ciphertext moved to position 2: refused.
        assert!(matches!(
            open(&items[1].0, &set.ciphertexts[0]),
            Err(CryptoError::Decrypt)
        ));
        // The DEK claimed by another generation: refused.
        assert!(matches!(
            ring.open_member(
                "h",
                &set.wrapped_dek,
                &set.kek_id,
                &items[0].0,
                &set.ciphertexts[0]
            ),
            Err(CryptoError::Decrypt)
        ));
    }

    #[test]
    fn another_keyring_cannot_open_and_says_so_without_panicking() {
        let dir = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let (ring, _) = keyring_in(dir.path(), "a.json");
        let (other, _) = keyring_in(dir.path(), "b.json");
        let Ok(sealed) = ring.seal("s", "aad", b"value") else {
            unreachable!()
        };
        assert!(matches!(
            other.open("s", "aad", &sealed),
            Err(CryptoError::Decrypt)
        ));
        let mut unknown = sealed.clone();
        unknown.kek_id = "kek-0099".into();
        assert!(matches!(
            ring.open("s", "aad", &unknown),
            Err(CryptoError::UnknownKey(_))
        ));
    }

    #[test]
    fn rotation_rewraps_deks_and_a_running_keyring_picks_up_the_new_key() {
        let dir = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let (ring, path) = keyring_in(dir.path(), "k.json");
        let Ok(sealed) = ring.seal("s", "aad", b"value") else {
            unreachable!()
        };
        // Another process (the CLI) rotates the file.
        let Ok(mut file) = KeyFile::read(&path) else {
            unreachable!()
        };
        let new_id = file.add_key();
        assert!(file.replace(&path).is_ok());
        let Ok(cli_ring) = Keyring::load(KeySource::File(path.clone())) else {
            unreachable!()
        };
        cli_ring.accept_checks(cli_ring.key_checks());
        let Ok((wrapped, kek_id)) = cli_ring.rewrap("s", &sealed.wrapped_dek, &sealed.kek_id)
        else {
            unreachable!()
        };
        assert_eq!(kek_id, new_id);
        let moved = Sealed {
            ciphertext: sealed.ciphertext.clone(),
            wrapped_dek: wrapped,
            kek_id,
        };
        // The running keyring never saw kek-0002 but reloads on demand.
        assert_eq!(
            ring.open("s", "aad", &moved).map(|p| p.to_vec()).ok(),
            Some(b"value".to_vec())
        );
        assert_eq!(ring.active_id(), new_id);
    }

    #[test]
    fn key_files_are_private_and_never_overwritten() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let (_, path) = keyring_in(dir.path(), "k.json");
        let mode = std::fs::metadata(&path)
            .map(|m| m.permissions().mode() & 0o777)
            .ok();
        assert_eq!(mode, Some(0o600));
        assert!(matches!(
            KeyFile::generate().create(&path),
            Err(CryptoError::KeyFileExists(_))
        ));
        assert!(std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).is_ok());
        assert!(matches!(
            Keyring::load(KeySource::File(path.clone())),
            Err(CryptoError::KeyFileTooOpen { .. })
        ));
        let missing = Keyring::load(KeySource::File(dir.path().join("missing.json")));
        assert!(matches!(missing, Err(CryptoError::KeyFileMissing(_))));
    }
}
