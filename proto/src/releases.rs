//! Break-glass releases: asking, shares, veto, the released secrets.

use crate::Sensitive;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestBody {
    /// Why the release is needed (3 to 500 characters): custodians see it.
    #[schema(min_length = 3, max_length = 500)]
    pub reason: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareBody {
    /// The custodian's `kwshare1-…` text (case, spaces and line breaks do not matter).
    #[schema(value_type = String, max_length = 1024)]
    pub share: Sensitive,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ReleaseOut {
    pub id: String,
    pub escrow: String,
    pub requester: String,
    pub reason: String,
    /// `collecting`, `waiting`, `released`, `vetoed` or `expired`.
    pub state: String,
    pub shares_received: i32,
    pub threshold: i32,
    /// When the secrets open (the end of the waiting period).
    pub release_at: Option<String>,
    /// When the released secrets are gone.
    pub expires_at: Option<String>,
    /// Only in the answer that creates the release: the key that reads the secrets. Keep it;
    /// Keyward keeps no copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub release_key: Option<Sensitive>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct BackupCodeOut {
    pub position: i32,
    #[schema(value_type = String)]
    pub code: Sensitive,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ReleasedAccountOut {
    pub account: String,
    pub platform: String,
    pub handle: String,
    #[schema(value_type = Option<String>)]
    pub otpauth_uri: Option<Sensitive>,
    /// The current TOTP code of the released seed.
    #[schema(value_type = Option<String>)]
    pub totp_code: Option<Sensitive>,
    #[schema(value_type = Option<String>)]
    pub password: Option<Sensitive>,
    pub backup_codes: Vec<BackupCodeOut>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ReleasedOut {
    pub accounts: Vec<ReleasedAccountOut>,
    pub expires_at: String,
}

/// The release named in the path.
#[derive(IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct ReleaseId(
    /// The release's id.
    pub String,
);
