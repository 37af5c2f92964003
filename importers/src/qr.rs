//! QR codes in screenshots (PNG, JPEG or WebP): the texts they hold, read with `rqrr`. The
//! image is decoded in memory, within limits, and nothing of it is kept.

use keyward_domain::{Invalid, Otpauth};

/// The largest image accepted, in bytes and in pixels per side.
pub const MAX_IMAGE_BYTES: usize = 8 * 1024 * 1024;
const MAX_SIDE: u32 = 6000;

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

/// The texts of every QR code found in the image, in the order found.
pub fn qr_texts(bytes: &[u8]) -> Result<Vec<String>, Invalid> {
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(Invalid::new(
            "image_too_large",
            format!("the image is larger than {} MiB", MAX_IMAGE_BYTES >> 20),
        ));
    }
    let format = format_of(bytes)
        .ok_or_else(|| Invalid::new("not_an_image", "send a PNG, JPEG or WebP screenshot"))?;
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let picture = reader
        .decode()
        .map_err(|_| {
            Invalid::new(
                "invalid_image",
                "the image cannot be read (damaged, or too large)",
            )
        })?
        .to_luma8();
    let (w, h) = picture.dimensions();
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(w as usize, h as usize, |x, y| {
            picture.get_pixel(x as u32, y as u32).0[0]
        });
    let texts: Vec<String> = prepared
        .detect_grids()
        .iter()
        .filter_map(|grid| grid.decode().ok().map(|(_, text)| text))
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
