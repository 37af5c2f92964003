//! Backup codes as pasted from a platform's page, and codes as typed for verification:
//! parsing never panics, every accepted code is in canonical form, no code appears twice,
//! and the look-alike variants of a typed code stay bounded.
#![no_main]

use keyward_domain::backup::{split_block, CODE_CHARS, MAX_CODES, MAX_VARIANTS};
use keyward_domain::{CodeList, TypedCode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let cells = split_block(text);
    assert!(cells
        .iter()
        .all(|c| !c.is_empty() && c.trim() == c.as_str()));
    if let Ok(list) = CodeList::parse_block(text) {
        assert!(list.len() <= MAX_CODES);
        let mut seen = std::collections::HashSet::new();
        for code in list.codes() {
            let canon = code.normalised.as_str();
            assert!(CODE_CHARS.contains(&canon.len()));
            assert!(canon
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
            assert!(
                seen.insert(canon.to_owned()),
                "a code twice in one generation"
            );
            assert_eq!(code.display.trim(), code.display.as_str());
        }
    }
    if let Ok(typed) = TypedCode::parse(text) {
        let variants = typed.look_alike_variants();
        assert!(variants.len() <= MAX_VARIANTS);
        assert!(variants
            .iter()
            .all(|v| v.as_str() != typed.normalised.as_str()));
        let _ = typed.hints(None, false);
    }
});
