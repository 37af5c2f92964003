//! Types that validate on construction: the rest of the code can only hold valid values.
//! Normalisation (spaces, case, padding) happens here, once.

mod account;
pub mod backup;
mod otp;
mod text;

pub use account::{AccountStatus, Handle, LoginUrl, Notes, Platform, TeamSlug};
pub use backup::{CodeList, Hint, TypedCode};
pub use otp::{Base32Secret, HashAlgorithm, OtpKind, OtpParams, Otpauth};
pub use text::{Justification, Password};

/// Why a value was refused; `code` is the stable API error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    pub code: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}
