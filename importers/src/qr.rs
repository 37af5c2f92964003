//! QR codes in screenshots (PNG, JPEG or WebP): the texts they hold, read with `quircs` (a
//! port of quirc, whose work per image is bounded). The image is decoded in memory, within
//! limits, and nothing of it is kept.

use keyward_domain::{Invalid, Otpauth};
use std::sync::atomic::{AtomicBool, Ordering};

/// The largest image accepted, in bytes and in pixels per side.
pub const MAX_IMAGE_BYTES: usize = 8 * 1024 * 1024;
const MAX_SIDE: u32 = 6000;
/// Screenshots in one request at most, and their pixels in all: decoding is the cost.
pub const MAX_IMAGES: usize = 10;
pub const MAX_TOTAL_PIXELS: u64 = 40_000_000;

fn format_of(bytes: &[u8]) -> Option<image::ImageFormat> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(image::ImageFormat::Png)
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some(image::ImageFormat::Jpeg)
    } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(image::ImageFormat::WebP)
    } else {
        None
    }
}

/// Whether `bytes` start like a PNG, JPEG or WebP image.
pub fn is_image(bytes: &[u8]) -> bool {
    format_of(bytes).is_some()
}

/// An image's width and height, from its header alone (nothing is decoded).
fn dimensions(bytes: &[u8]) -> Result<(u32, u32), Invalid> {
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(too_large());
    }
    let format = format_of(bytes)
        .ok_or_else(|| Invalid::new("not_an_image", "send a PNG, JPEG or WebP screenshot"))?;
    image::ImageReader::with_format(std::io::Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(|_| unreadable())
}

fn too_large() -> Invalid {
    Invalid::new(
        "image_too_large",
        format!("the image is larger than {} MiB", MAX_IMAGE_BYTES >> 20),
    )
}

fn unreadable() -> Invalid {
    Invalid::new(
        "invalid_image",
        "the image cannot be read (damaged, or too large)",
    )
}

/// The texts of the QR codes in several screenshots, in order, within a budget per request:
/// at most [`MAX_IMAGES`] images and [`MAX_TOTAL_PIXELS`] pixels in all, both checked from
/// the headers before anything is decoded; stops between images once `cancel` is set.
pub fn texts_of_images(files: &[Vec<u8>], cancel: &AtomicBool) -> Result<Vec<String>, Invalid> {
    if files.len() > MAX_IMAGES {
        return Err(Invalid::new(
            "too_many_images",
            format!("send at most {MAX_IMAGES} screenshots at once"),
        ));
    }
    let mut pixels = 0u64;
    for file in files {
        let (w, h) = dimensions(file)?;
        pixels = pixels.saturating_add(u64::from(w) * u64::from(h));
    }
    if pixels > MAX_TOTAL_PIXELS {
        return Err(Invalid::new(
            "too_many_pixels",
            format!(
                "these screenshots hold {} megapixels; send at most {} in one import (crop them to the codes)",
                pixels.div_ceil(1_000_000),
                MAX_TOTAL_PIXELS / 1_000_000
            ),
        ));
    }
    let mut texts = Vec::new();
    for file in files {
        if cancel.load(Ordering::Relaxed) {
            return Err(crate::common::cancelled());
        }
        texts.extend(qr_texts(file)?);
    }
    Ok(texts)
}

/// The texts of every QR code found in the image, in the order found.
pub fn qr_texts(bytes: &[u8]) -> Result<Vec<String>, Invalid> {
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(too_large());
    }
    let format = format_of(bytes)
        .ok_or_else(|| Invalid::new("not_an_image", "send a PNG, JPEG or WebP screenshot"))?;
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let picture = reader.decode().map_err(|_| unreadable())?.to_luma8();
    let (w, h) = picture.dimensions();
    // quirc's design (ported as quircs): at most 32 finder patterns and 8 codes per image,
    // so a page drawn full of finder patterns costs no more than a real screenshot.
    let mut decoder = quircs::Quirc::default();
    let texts: Vec<String> = decoder
        .identify(w as usize, h as usize, picture.as_raw())
        .filter_map(|code| code.ok()?.decode().ok())
        .filter_map(|data| String::from_utf8(data.payload).ok())
        .collect();
    if texts.is_empty() {
        return Err(Invalid::new(
            "no_qr_code",
            "no QR code was found in the image; crop the screenshot to the code, or paste the setup key",
        ));
    }
    Ok(texts)
}

/// The `otpauth://` URI of the first such QR code in the image.
pub fn otpauth_from_image(bytes: &[u8]) -> Result<Otpauth, Invalid> {
    let texts = qr_texts(bytes)?;
    let uri = texts
        .iter()
        .find(|t| {
            t.trim_start()
                .to_ascii_lowercase()
                .starts_with("otpauth://")
        })
        .ok_or_else(|| {
            Invalid::new(
                "not_otpauth",
                "the QR code does not hold an otpauth:// URI (an authenticator setup code)",
            )
        })?;
    Otpauth::parse(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_not_an_image_is_named_before_any_decoding() {
        assert_eq!(
            qr_texts(b"hello").err().map(|e| e.code),
            Some("not_an_image")
        );
        assert_eq!(
            qr_texts(b"\x89PNG\r\n\x1a\ngarbage").err().map(|e| e.code),
            Some("invalid_image")
        );
        let big = vec![0u8; MAX_IMAGE_BYTES + 1];
        assert_eq!(
            qr_texts(&big).err().map(|e| e.code),
            Some("image_too_large")
        );
    }
}
