//! Device sign-in (RFC 8628) for the members' command-line client.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /auth/device/code` (a form).
#[derive(Serialize, Deserialize, ToSchema, Default)]
pub struct DeviceCodeForm {
    /// `keyward-cli`.
    #[serde(default)]
    pub client_id: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct DeviceCodeOut {
    /// What the client polls with (secret; single-use).
    pub device_code: String,
    /// 8 letters shown as `XXXX-XXXX`, typed on `/device`.
    pub user_code: String,
    pub verification_uri: String,
    /// The page with the code filled in.
    pub verification_uri_complete: String,
    /// Seconds the codes stay valid.
    pub expires_in: i64,
    /// Seconds to wait between polls.
    pub interval: i32,
}

/// `POST /auth/device/token` (a form).
#[derive(Serialize, Deserialize, ToSchema, Default)]
pub struct DeviceTokenForm {
    /// `urn:ietf:params:oauth:grant-type:device_code`.
    #[serde(default)]
    pub grant_type: String,
    #[serde(default)]
    pub device_code: String,
    #[serde(default)]
    pub client_id: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct DeviceTokenOut {
    /// `kwcli_…`: a session of the member, sent as `Authorization: Bearer`.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: String,
    pub expires_in: i64,
}

/// An RFC 8628 / RFC 6749 error: `authorization_pending`, `slow_down`, `access_denied`,
/// `expired_token`, `invalid_grant`, `invalid_client`, `unsupported_grant_type`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct DeviceErrorOut {
    pub error: String,
    pub error_description: String,
}
