//! Keyed lookup hashes: a typed backup code is found by HMAC-SHA256 of its canonical form,
//! without decrypting every code. The key is derived from the root for this purpose only.

use super::Keyring;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const PURPOSE: &str = "keyward/v1/backup-code-lookup";

impl Keyring {
    /// The lookup hash of a normalised backup code of an account (hex).
    pub fn backup_lookup(&self, account_id: &str, normalised: &str) -> String {
        let key = self.derive(PURPOSE);
        // HMAC takes keys of any length, so this cannot fail.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.as_ref()) else {
            return String::new();
        };
        mac.update(account_id.as_bytes());
        mac.update(&[0]);
        mac.update(normalised.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}
