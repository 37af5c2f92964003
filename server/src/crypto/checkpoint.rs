//! The Ed25519 key that signs audit checkpoints, derived from the keyring's root (so it is
//! kept with the keyring and needs no file of its own).

use super::Keyring;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

const PURPOSE: &str = "keyward/v1/audit-checkpoint-signing";

/// What a checkpoint signature covers.
pub fn checkpoint_message(seq: i64, head_hash: &str, at: &str) -> String {
    format!("keyward/v1/audit-checkpoint\n{seq}\n{head_hash}\n{at}")
}

impl Keyring {
    fn checkpoint_key(&self) -> SigningKey {
        SigningKey::from_bytes(&self.derive(PURPOSE))
    }

    /// The checkpoint key's id: its public key in hex.
    pub fn checkpoint_key_id(&self) -> String {
        hex::encode(self.checkpoint_key().verifying_key().as_bytes())
    }

    /// Signs a checkpoint message; returns the signature in hex.
    pub fn sign_checkpoint(&self, message: &str) -> String {
        hex::encode(self.checkpoint_key().sign(message.as_bytes()).to_bytes())
    }
}

/// Whether `signature_hex` is a valid signature of `message` by the key `key_id_hex`.
pub fn checkpoint_signature_valid(key_id_hex: &str, message: &str, signature_hex: &str) -> bool {
    let key: Option<[u8; 32]> = hex::decode(key_id_hex).ok().and_then(|b| b.try_into().ok());
    let sig: Option<[u8; 64]> = hex::decode(signature_hex)
        .ok()
        .and_then(|b| b.try_into().ok());
    let (Some(key), Some(sig)) = (key, sig) else {
        return false;
    };
    VerifyingKey::from_bytes(&key)
        .map(|k| {
            k.verify(message.as_bytes(), &Signature::from_bytes(&sig))
                .is_ok()
        })
        .unwrap_or(false)
}

/// What a retention anchor's signature covers (a different prefix from checkpoints, so one
/// signature can never stand in for the other).
pub fn anchor_message(
    seq: i64,
    hash: &str,
    first_seq: i64,
    archive_sha256: &str,
    at: &str,
) -> String {
    format!("keyward/v1/audit-anchor\n{seq}\n{hash}\n{first_seq}\n{archive_sha256}\n{at}")
}
