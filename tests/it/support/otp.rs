//! An independent RFC 4226/6238 implementation for checking the server's codes.

use hmac::{Hmac, Mac};

/// HOTP-SHA1 of `counter`, `digits` long.
pub fn hotp_sha1(key: &[u8], counter: u64, digits: u32) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).expect("any key length");
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let binary = u32::from_be_bytes([
        digest[offset],
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]) & 0x7fff_ffff;
    format!(
        "{:0width$}",
        binary % 10u32.pow(digits),
        width = digits as usize
    )
}

/// TOTP-SHA1 codes for the period containing `unix` and its neighbours.
pub fn totp_window(key: &[u8], unix: u64, period: u64, digits: u32) -> Vec<String> {
    let step = unix / period;
    [step.saturating_sub(1), step, step + 1]
        .iter()
        .map(|s| hotp_sha1(key, *s, digits))
        .collect()
}

/// Decodes Base32 (no padding) for the tests' known seeds.
pub fn base32(text: &str) -> Vec<u8> {
    data_encoding::BASE32_NOPAD
        .decode(text.as_bytes())
        .expect("valid base32")
}
