//! Break-glass release: someone asks for a release with a reason and gets a release key that
//! only they hold; custodians submit their shares without signing in (a share proves itself
//! by its fingerprint); at k shares (after the waiting period, unless vetoed) the requester
//! reads the escrow's secrets. The escrow key is rebuilt in memory from the shares, opens the
//! sealed DEKs — never a KEK — and is dropped; the secrets are kept sealed to the release key
//! until the window ends; the escrow is spent and every released secret gets a rotation task.

mod offline;
mod opening;
mod workflow;

use super::ServiceError;
use crate::domain::Otpauth;
use crate::store::escrow::{EscrowRow, ReleaseRow};
use base64::Engine;
use chrono::Utc;
pub use offline::open_offline;
pub use opening::open_scope;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// One account's released secrets.
#[derive(Serialize, Deserialize)]
pub struct ReleasedAccount {
    pub account: String,
    pub platform: String,
    pub handle: String,
    pub otpauth_uri: Option<String>,
    pub password: Option<String>,
    /// Unused (and checked-out) codes of the current generation: (position, code).
    pub backup_codes: Vec<(i32, String)>,
    /// The ids of the secret versions and the generation released (for the audit trail).
    #[serde(default)]
    pub released_ids: Vec<String>,
}

impl Drop for ReleasedAccount {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.otpauth_uri.zeroize();
        self.password.zeroize();
        for (_, code) in &mut self.backup_codes {
            code.zeroize();
        }
    }
}

impl ReleasedAccount {
    /// The TOTP code of the released seed now.
    pub fn totp_code(&self) -> Option<Zeroizing<String>> {
        let otp = Otpauth::parse(self.otpauth_uri.as_deref()?).ok()?;
        let period = otp.params.period?;
        let step = Utc::now().timestamp().max(0) as u64 / period;
        Some(
            otp.secret
                .code_at_counter(otp.params.algorithm, otp.params.digits, step),
        )
    }
}

/// A release as callers see it.
pub struct ReleaseView {
    pub release: ReleaseRow,
    pub escrow: EscrowRow,
}

/// A new release and the key only its requester holds (shown once).
pub struct Requested {
    pub view: ReleaseView,
    pub release_key: Zeroizing<String>,
}

use crate::services::error::{conflict, refused};

fn invalid_share(message: &str) -> ServiceError {
    crate::domain::Invalid::new("invalid_share", message.to_owned()).into()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn share_aad(release_id: &str, index: i32) -> String {
    format!("keyward/v1/release/{release_id}/share/{index}")
}

fn secrets_aad(release_id: &str) -> String {
    format!("keyward/v1/release/{release_id}/secrets")
}

fn target(id: &str) -> String {
    format!("release:{id}")
}
