//! Service tokens: `kw_` + 256 random bits, shown once, stored as SHA-256.

use super::{Binding, Principal, PrincipalKind};
use crate::store::tokens::TokenRow;
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub const PREFIX: &str = "kw_";

/// A fresh token value.
pub fn generate() -> Zeroizing<String> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(bytes.as_mut());
    Zeroizing::new(format!(
        "{PREFIX}{}",
        data_encoding::BASE32_NOPAD
            .encode(bytes.as_ref())
            .to_ascii_lowercase()
    ))
}

/// The stored form. Tokens carry 256 random bits, so a plain hash cannot be brute-forced.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

/// Whether a presented value looks like a token at all (cheap check before a lookup).
pub fn looks_valid(token: &str) -> bool {
    token.starts_with(PREFIX)
        && token.len() < 128
        && token.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Why a stored token cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    Revoked,
    Expired,
    Corrupt,
}

/// The principal a stored token stands for, if it is still usable.
pub fn principal(
    row: &TokenRow,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Principal, Unusable> {
    if row.revoked_at.is_some() {
        return Err(Unusable::Revoked);
    }
    if row.expires_at.is_some_and(|at| at <= now) {
        return Err(Unusable::Expired);
    }
    let bindings: Vec<Binding> =
        serde_json::from_str(&row.bindings).map_err(|_| Unusable::Corrupt)?;
    Ok(Principal {
        kind: PrincipalKind::Token,
        id: row.id.clone(),
        name: row.name.clone(),
        email: None,
        bindings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_hash_stably() {
        let a = generate();
        let b = generate();
        assert!(a.starts_with("kw_") && looks_valid(&a));
        assert_ne!(a.as_str(), b.as_str());
        assert_eq!(hash(&a), hash(&format!(" {} ", a.as_str())));
        assert_ne!(hash(&a), hash(&b));
        assert!(!looks_valid("Bearer x"));
    }
}
