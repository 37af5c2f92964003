//! Members, their exposure, offboarding and its report.

use crate::rotation::TaskOut;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, Deserialize, ToSchema)]
pub struct RoleOut {
    pub team: String,
    pub role: String,
    /// `idp` (the IdP's groups at the last sign-in), `grant` (`keyward member grant`) or `scim`.
    pub source: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct MemberOut {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    /// `active` or `departed`.
    pub status: String,
    pub departed_at: Option<String>,
    pub departed_reason: Option<String>,
    pub departed_by: Option<String>,
    pub roles: Vec<RoleOut>,
    /// An open review: the IdP's groups no longer give the member a role, or they have not
    /// signed in for `offboarding.idle_departure_days`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewOut>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ReviewOut {
    /// `groups_lost` or `idle`.
    pub reason: String,
    pub opened_at: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    /// `offboard` (a departure with the configured policy) or `keep`.
    pub decision: String,
    /// Why, for the audit trail (3 to 500 characters).
    #[schema(min_length = 3, max_length = 500)]
    pub reason: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ReviewDone {
    pub member: MemberOut,
    /// `kept` or `offboarded`.
    pub review: String,
    /// The rotation tasks the departure opened (none when kept).
    pub rotation_tasks: Vec<TaskOut>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct MemberList {
    pub members: Vec<MemberOut>,
}

#[derive(Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MemberListQuery {
    /// `active` or `departed`.
    pub status: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ExposureOut {
    /// The member's id.
    pub member: String,
    /// The policy the exposure was computed with.
    pub policy: String,
    pub items: Vec<ExposureItem>,
}

#[derive(Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExposureQuery {
    /// `exposed` (default): what the member saw; `strict`: also what they could reach.
    pub policy: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OffboardBody {
    /// Why the member leaves, for the audit trail and the report (3 to 500 characters).
    #[schema(min_length = 3, max_length = 500)]
    pub reason: String,
    /// `exposed` (default) or `strict`.
    pub policy: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct OffboardOut {
    pub member: MemberOut,
    pub sessions_revoked: u64,
    pub tokens_revoked: u64,
    pub exposure: Vec<ExposureItem>,
    pub rotation_tasks: Vec<TaskOut>,
}

#[derive(Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct AuditHead {
    pub seq: i64,
    pub hash: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ReportOut {
    pub member: MemberOut,
    /// Who offboarded the member (`member:…`, `token:…`, `cli`).
    pub offboarded_by: String,
    pub offboarded_at: String,
    pub reason: Option<String>,
    pub policy: Option<String>,
    /// The audit sequence number of the `member.offboard` event.
    pub offboard_seq: i64,
    pub sessions_revoked: u64,
    pub tokens_revoked: u64,
    /// What the member was exposed to at the departure.
    pub exposure: Vec<ExposureItem>,
    pub tasks: Vec<TaskOut>,
    pub open: usize,
    pub done: usize,
    pub dismissed: usize,
    pub overdue: usize,
    /// The audit chain head when this report was made.
    pub audit_head: AuditHead,
    pub generated_at: String,
}

/// The member named in the path.
#[derive(IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct MemberId(
    /// The member's id.
    pub String,
);

/// One secret a member saw (or, under the strict policy, could have reached).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExposureItem {
    /// The account id.
    pub account: String,
    pub team: String,
    pub platform: String,
    pub handle: String,
    /// `totp_seed`, `hotp_seed`, `password` or `backup_code`.
    pub kind: String,
    /// The secret version's id, or the backup-code generation's id.
    pub secret: String,
    /// The secret's version, or the backup-code generation's number.
    pub version: Option<i32>,
    /// The backup code's position in its generation.
    pub position: Option<i32>,
    /// `export`, `reveal`, `checkout`, `break_glass` or `could_reach`.
    pub how: String,
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    /// The audit event that proves it (none for `could_reach`).
    pub seq: Option<i64>,
}
