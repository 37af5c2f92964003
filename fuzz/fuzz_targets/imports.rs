//! Imports from other apps (Google Authenticator payloads, Aegis, 2FAS and Bitwarden JSON,
//! otpauth:// lists): whatever the bytes, each parser returns seeds or a refusal, never a
//! panic, never more than the limit, and every seed it returns is one Keyward could store.
#![no_main]

use keyward_importers::{parse_import, ImportFormat, MAX_ENTRIES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let format = ImportFormat::ALL[usize::from(selector) % ImportFormat::ALL.len()];
    // A password only for Aegis; a wrong one must be a refusal like any other.
    let Ok(seeds) = parse_import(format, text, Some("fuzz")) else {
        return;
    };
    assert!(!seeds.is_empty() && seeds.len() <= MAX_ENTRIES);
    for (i, seed) in seeds.iter().enumerate() {
        assert_eq!(seed.index, i);
        let len = seed.otp.secret.expose_bytes().len();
        assert!((10..=128).contains(&len), "a seed of {len} bytes");
        assert!(matches!(seed.otp.params.digits, 6 | 8));
    }
});
