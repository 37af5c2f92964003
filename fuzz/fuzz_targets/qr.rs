//! Screenshots sent to be read for a QR code: whatever the bytes (damaged PNG, JPEG or WebP,
//! huge dimensions), reading them returns texts or a refusal, never a panic.
#![no_main]

use keyward_importers::qr::{otpauth_from_image, qr_texts};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(texts) = qr_texts(data) {
        assert!(!texts.is_empty());
    }
    let _ = otpauth_from_image(data);
});
