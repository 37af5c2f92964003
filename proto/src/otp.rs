//! TOTP and HOTP seeds: store, reveal a code, export.

use crate::Sensitive;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Either an `otpauth://` URI or the seed and its parameters.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetOtp {
    #[schema(value_type = Option<String>)]
    pub otpauth_uri: Option<Sensitive>,
    /// A screenshot of the platform's QR code (base64 PNG, JPEG or WebP, at most 8 MiB): its
    /// `otpauth://` URI is read; nothing of the image is kept.
    #[schema(value_type = Option<String>)]
    pub qr_image: Option<Sensitive>,
    /// Base32; spaces, lowercase and missing padding are accepted.
    #[schema(value_type = Option<String>)]
    pub secret: Option<Sensitive>,
    /// SHA1 (default), SHA256 or SHA512.
    #[schema(value_type = Option<AlgorithmName>)]
    pub algorithm: Option<String>,
    /// 6 (default) or 8.
    #[schema(minimum = 6, maximum = 8)]
    pub digits: Option<u32>,
    /// TOTP only: 30 (default) or 60.
    #[schema(minimum = 30, maximum = 60)]
    pub period: Option<u64>,
    /// HOTP only: the next counter value (default 0), at most 2^53 − 1.
    #[schema(minimum = 0, maximum = 9007199254740991_u64)]
    pub counter: Option<u64>,
}

impl SetOtp {
    /// A Base32 seed with the default parameters (SHA1, 6 digits, 30 s; HOTP from 0).
    pub fn seed(secret: impl Into<String>) -> Self {
        Self {
            secret: Some(Sensitive::new(secret)),
            otpauth_uri: None,
            qr_image: None,
            algorithm: None,
            digits: None,
            period: None,
            counter: None,
        }
    }
}

/// An OTP hash algorithm.
#[derive(Serialize, Deserialize, ToSchema)]
#[allow(dead_code, clippy::upper_case_acronyms)]
pub enum AlgorithmName {
    SHA1,
    SHA256,
    SHA512,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JustificationBody {
    /// Why you need this, for the audit trail (3 to 500 characters).
    #[schema(min_length = 3, max_length = 500)]
    pub justification: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct VersionOut {
    pub version: i32,
    /// `short_seed` when a stored seed has fewer than 128 bits (RFC 4226 asks for 128 and
    /// recommends 160): stored all the same, since platforms still issue such seeds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct TotpCodeOut {
    #[schema(value_type = String)]
    pub code: Sensitive,
    pub digits: u32,
    pub period: u64,
    /// Seconds the code stays valid.
    pub expires_in: u64,
    /// The next period's code, when `expires_in` ≤ 5.
    #[schema(value_type = Option<String>)]
    pub next_code: Option<Sensitive>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct HotpCodeOut {
    #[schema(value_type = String)]
    pub code: Sensitive,
    /// The counter the code was computed for; the stored counter is now one higher.
    pub counter: u64,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ExportOut {
    #[schema(value_type = String)]
    pub otpauth_uri: Sensitive,
}
