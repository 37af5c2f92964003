//! Access requests: asking for time-boxed access to an account under `approval`, deciding on
//! it, and the grant it becomes.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// An action a grant can cover.
#[derive(ToSchema)]
pub enum GrantActionName {
    #[schema(rename = "totp.reveal")]
    TotpReveal,
    #[schema(rename = "hotp.reveal")]
    HotpReveal,
    #[schema(rename = "backup.checkout")]
    BackupCheckout,
    #[schema(rename = "password.reveal")]
    PasswordReveal,
    #[schema(rename = "totp.export")]
    TotpExport,
    #[schema(rename = "hotp.export")]
    HotpExport,
}

/// Where a request stands.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum AccessStateName {
    Pending,
    Approved,
    Denied,
    Expired,
    Revoked,
    Cancelled,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessRequestBody {
    /// The account's id.
    pub account: String,
    /// What the grant should allow (each one your roles allow on the account). Required.
    #[serde(default)]
    #[schema(value_type = Vec<GrantActionName>, min_items = 1, max_items = 12)]
    pub actions: Vec<String>,
    /// How long the grant runs once approved: 1 to 480 (and at most `access.max_minutes`).
    /// Required.
    #[schema(minimum = 1, maximum = 480)]
    pub minutes: Option<i64>,
    /// Why (3 to 500 characters): the approvers see it. Required.
    #[schema(min_length = 3, max_length = 500)]
    pub reason: Option<String>,
}

/// An approver's (or a revoker's) optional comment.
#[derive(Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    #[schema(min_length = 3, max_length = 500)]
    pub comment: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ApprovalOut {
    /// The approver's member id (`cli` for the operator's command line).
    pub by: String,
    pub at: String,
    pub comment: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct AccessRequestOut {
    pub id: String,
    pub account: String,
    pub team: String,
    pub platform: String,
    pub handle: String,
    /// The member who asked, by id.
    pub requester: String,
    /// Their name or email.
    pub requester_name: String,
    #[schema(value_type = Vec<GrantActionName>)]
    pub actions: Vec<String>,
    pub minutes: i32,
    pub reason: String,
    #[schema(value_type = AccessStateName)]
    pub state: String,
    /// Approved and in its window, but the account is frozen: the grant works again once it is
    /// unfrozen, until `expires_at`.
    pub suspended: bool,
    pub approvals: Vec<ApprovalOut>,
    pub approvers_needed: i32,
    /// When the grant started (the last approval) and ends.
    pub starts_at: Option<String>,
    pub expires_at: Option<String>,
    pub created_at: String,
    /// When it was denied, revoked, cancelled or expired, and by whom.
    pub ended_at: Option<String>,
    pub ended_by: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct AccessRequestList {
    pub requests: Vec<AccessRequestOut>,
}

#[derive(Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccessQuery {
    /// `pending`, `approved`, `denied`, `expired`, `revoked` or `cancelled`.
    pub state: Option<String>,
    /// An account id.
    pub account: Option<String>,
    /// Only your own requests.
    pub mine: Option<bool>,
    /// At most this many (1–200, default 200), newest first.
    pub limit: Option<u64>,
}

/// The access request named in the path.
#[derive(IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct AccessRequestId(
    /// The request's id.
    pub String,
);
