//! `otpauth://` URIs as pasted or decoded from a QR code: parsing never panics, and what
//! parses survives a round trip through `to_uri` unchanged.
#![no_main]

use keyward_domain::Otpauth;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(otp) = Otpauth::parse(text) else {
        return;
    };
    let uri = otp.to_uri("fallback:label", None);
    let again = Otpauth::parse(&uri)
        .unwrap_or_else(|e| panic!("a URI Keyward wrote does not parse: {}", e.code));
    // Without a label of its own, the URI carries the fallback.
    let mut expected = otp.params.clone();
    expected.label = expected.label.or_else(|| Some("fallback:label".to_owned()));
    assert_eq!(again.params, expected, "parameters survive the round trip");
    assert_eq!(again.secret.expose_bytes(), otp.secret.expose_bytes());
});
