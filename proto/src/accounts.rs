//! Accounts: create, list, read, change and archive.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    /// Team slug, e.g. `marketing`.
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")]
    pub team: String,
    #[schema(value_type = crate::wire::PlatformName)]
    pub platform: String,
    /// As the platform shows it, e.g. `@brand`; no spaces, control or invisible characters.
    #[schema(min_length = 1, max_length = 100)]
    pub handle: String,
    /// An http(s) URL.
    #[schema(max_length = 2048)]
    pub login_url: Option<String>,
    /// Stored in clear: never put a secret here.
    #[schema(max_length = 2000)]
    pub notes: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchAccount {
    #[schema(value_type = Option<crate::wire::PlatformName>)]
    pub platform: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub handle: Option<String>,
    /// An empty string removes the URL.
    #[schema(max_length = 2048)]
    pub login_url: Option<String>,
    #[schema(max_length = 2000)]
    pub notes: Option<String>,
    /// `active` or `frozen` (archive with DELETE).
    #[schema(value_type = Option<PatchStatus>)]
    pub status: Option<String>,
    /// `open` (a role is enough) or `approval` (reveals also need an approved access request).
    #[schema(value_type = Option<AccessPolicy>)]
    pub access: Option<String>,
    /// Different approvers an access request needs: 1 or 2.
    #[schema(minimum = 1, maximum = 2)]
    pub approvers_needed: Option<i64>,
}

/// An account's access policy, set by a security admin (either way).
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessPolicyBody {
    /// `open` or `approval`. Required.
    #[schema(value_type = Option<AccessPolicy>)]
    pub access: Option<String>,
    /// Different approvers an access request needs: 1 (the default) or 2.
    #[schema(minimum = 1, maximum = 2)]
    pub approvers_needed: Option<i64>,
}

/// An account's access policy.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum AccessPolicy {
    Open,
    Approval,
}

/// What a PATCH may set the status to.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum PatchStatus {
    Active,
    Frozen,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct BackupCodesOut {
    pub generation: i32,
    pub issued_on: String,
    pub total: i32,
    pub remaining: i32,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct AccountOut {
    pub id: String,
    pub team: String,
    pub platform: String,
    pub handle: String,
    pub login_url: Option<String>,
    pub notes: String,
    /// active, frozen or archived.
    pub status: String,
    /// `open` or `approval`.
    #[schema(value_type = AccessPolicy)]
    pub access: String,
    /// Different approvers an access request on it needs (1 or 2).
    pub approvers_needed: i32,
    pub has_totp: bool,
    pub has_hotp: bool,
    pub has_password: bool,
    pub backup_codes: Option<BackupCodesOut>,
    pub open_rotation_tasks: i64,
    /// Open rotation tasks past their deadline.
    pub overdue_rotation_tasks: i64,
    /// The earliest deadline of the open rotation tasks (RFC 3339), if any.
    pub rotate_by: Option<String>,
    /// What needs attention: `low_backup_codes`, `failed_attempts`.
    pub warnings: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct AccountList {
    pub accounts: Vec<AccountOut>,
    /// Pass as `after` for the next page; null on the last page.
    pub next: Option<String>,
}

#[derive(Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// A team slug.
    pub team: Option<String>,
    /// x, instagram, facebook, tiktok, youtube, linkedin, github, google or other.
    pub platform: Option<String>,
    /// active, frozen or archived.
    pub status: Option<String>,
    /// At most this many (1-500, default 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    /// The `next` of the previous page.
    pub after: Option<String>,
}
