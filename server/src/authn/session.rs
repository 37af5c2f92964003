//! Browser session secrets: the cookie values (random, stored hashed) and CSRF tokens
//! (HMAC of the session id under a derived key, so nothing extra is stored).

use crate::crypto::Keyring;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The session cookie.
pub const SESSION_COOKIE: &str = "kw_session";
/// Binds an OIDC login in progress to the browser that started it.
pub const LOGIN_COOKIE: &str = "kw_login";
/// The chosen language.
pub const LANG_COOKIE: &str = "kw_lang";

/// A new random cookie value (256 bits).
pub fn new_secret() -> Zeroizing<String> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(bytes.as_mut());
    Zeroizing::new(data_encoding::BASE64URL_NOPAD.encode(bytes.as_ref()))
}

/// The stored form of a cookie value.
pub fn hash(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

fn csrf_mac(keyring: &Keyring, session_hash: &str) -> Option<Hmac<Sha256>> {
    let key = keyring.derive("keyward/v1/csrf");
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_ref()).ok()?;
    mac.update(session_hash.as_bytes());
    Some(mac)
}

/// The CSRF token for forms of this session.
pub fn csrf_token(keyring: &Keyring, session_hash: &str) -> String {
    csrf_mac(keyring, session_hash)
        .map(|m| hex::encode(m.finalize().into_bytes()))
        .unwrap_or_default()
}

/// Whether `presented` is this session's CSRF token (constant-time).
pub fn csrf_valid(keyring: &Keyring, session_hash: &str, presented: &str) -> bool {
    match (
        csrf_mac(keyring, session_hash),
        hex::decode(presented.trim()),
    ) {
        (Some(mac), Ok(bytes)) => mac.verify_slice(&bytes).is_ok(),
        _ => false,
    }
}
