//! Keyward's domain types: values that validate on construction, so the rest of the code can
//! only hold valid ones. Normalisation (spaces, case, padding) happens here, once. A crate of
//! its own with few dependencies (the importers are `keyward-importers`): its parsers are
//! fuzzed (`fuzz/`) without the server.

pub mod access;
mod account;
pub mod backup;
pub mod device;
pub mod identity;
mod incident;
mod otp;
mod return_to;
mod rotation;
pub mod scim;
pub mod share;
mod text;

pub use account::{AccountStatus, Handle, LoginUrl, Notes, Platform, TeamSlug};
pub use backup::{CodeList, Hint, TypedCode};
pub use incident::{IncidentState, RunbookKey};
pub use otp::{Base32Secret, HashAlgorithm, OtpKind, OtpParams, Otpauth};
pub use return_to::ReturnTo;
pub use rotation::{DepartureReason, OffboardPolicy, RotationKind, RotationReason, TaskState};
pub use text::{FilterText, Justification, Password};

/// Whether `raw` can be one of Keyward's ids (a hyphenated UUID): anything else names nothing,
/// and is refused before it reaches a query.
pub fn is_id(raw: &str) -> bool {
    raw.len() == 36
        && raw.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Why a value was refused; `code` is the stable API error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    pub code: &'static str,
    pub message: String,
    /// Something required is absent (the API answers 400), rather than present but invalid
    /// (422).
    pub required: bool,
}

impl Invalid {
    /// A value that is there but not valid.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            required: false,
        }
    }

    /// A required value that is absent.
    pub fn required(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            required: true,
            ..Self::new(code, message)
        }
    }
}
