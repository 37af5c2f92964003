//! `return_to` as anyone can put it in a link: whatever comes in, what comes out is a plain
//! path on Keyward's own origin, with nothing a browser would rewrite into another origin.
#![no_main]

use keyward_domain::ReturnTo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    for base in ["https://keyward.example.com", "http://127.0.0.1:8080"] {
        let base = url::Url::parse(base).unwrap_or_else(|_| unreachable!());
        let target = ReturnTo::parse(Some(raw), &base);
        let path = target.as_str();
        assert!(path.starts_with('/') && !path.starts_with("//"), "{path:?}");
        assert!(
            !path
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || c == '\\'),
            "{path:?}"
        );
        let resolved = base
            .join(path)
            .unwrap_or_else(|_| panic!("{path:?} does not resolve"));
        assert_eq!(
            resolved.origin(),
            base.origin(),
            "{path:?} leaves the origin"
        );
    }
});
