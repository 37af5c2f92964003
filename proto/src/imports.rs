//! Imports from authenticator apps: preview and apply.

use crate::Sensitive;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An export to read.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewBody {
    /// `google-authenticator`, `aegis`, `2fas`, `bitwarden` or `otpauth`.
    pub format: String,
    /// The export: its text (one `otpauth-migration://` or `otpauth://` URI per line, or the
    /// JSON file), or the file in base64; for google-authenticator and otpauth also
    /// screenshots of the QR codes (base64 PNG, JPEG or WebP, one per line).
    #[schema(value_type = String)]
    pub data: Sensitive,
    /// The password of an encrypted Aegis vault.
    #[schema(value_type = Option<String>)]
    pub password: Option<Sensitive>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ProposalOut {
    /// `attach`, `create` or `skip`.
    pub action: String,
    /// The account to attach to (or whose seed is this one already).
    pub account: Option<String>,
    pub platform: Option<String>,
    pub handle: Option<String>,
    /// `same_handle`, `already_stored` or `no_handle`.
    pub reason: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct PreviewEntryOut {
    pub index: usize,
    pub issuer: Option<String>,
    pub label: Option<String>,
    /// `totp` or `hotp`.
    pub kind: String,
    pub algorithm: String,
    pub digits: u32,
    pub period: Option<u64>,
    pub proposal: ProposalOut,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct PreviewOut {
    pub entries: Vec<PreviewEntryOut>,
}

/// What to do with one entry of the import.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionIn {
    /// The entry's index in the preview.
    #[schema(minimum = 0, maximum = 499)]
    pub index: usize,
    /// `attach`, `create` or `skip`.
    pub action: String,
    /// For `attach`: the account id.
    pub account: Option<String>,
    /// For `create`: the platform.
    pub platform: Option<String>,
    /// For `create`: the handle.
    pub handle: Option<String>,
}

/// An import as decided; entries not listed are skipped.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    /// `google-authenticator`, `aegis`, `2fas`, `bitwarden` or `otpauth`.
    pub format: String,
    /// The same export as for the preview.
    #[schema(value_type = String)]
    pub data: Sensitive,
    #[schema(value_type = Option<String>)]
    pub password: Option<Sensitive>,
    /// The team new accounts are created in.
    pub team: String,
    pub entries: Vec<DecisionIn>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct AppliedEntryOut {
    pub index: usize,
    pub account: Option<String>,
    /// `attach`, `create` or `skip`.
    pub action: String,
    /// The seed's new version, when one was stored.
    pub version: Option<i32>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ImportOut {
    pub stored: usize,
    pub created: usize,
    pub skipped: usize,
    pub results: Vec<AppliedEntryOut>,
}
