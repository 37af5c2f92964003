//! The audit trail: pages, verification and export.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Return events with a sequence number above this.
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// At most this many (1-500, default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    /// e.g. `token:0190…`.
    pub actor: Option<String>,
    /// An account id.
    pub account: Option<String>,
    /// e.g. `totp.reveal`.
    pub action: Option<String>,
}

/// A page of the trail.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    /// Events, oldest first: seq, at, actor, action, target, team, outcome, justification,
    /// ip, user_agent, request_id, details, prev_hash, hash.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<serde_json::Value>,
    /// The `after` for the next page, when there may be one.
    pub next: Option<i64>,
}

#[derive(Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// jsonl (default) or csv.
    pub format: Option<String>,
    /// Events at or after this time (RFC 3339, or a date meaning its start in UTC).
    pub since: Option<String>,
    /// Events before this time.
    pub until: Option<String>,
    /// An account id.
    pub account: Option<String>,
    /// e.g. `member:0190…`.
    pub actor: Option<String>,
    /// e.g. `backup.checkout`.
    pub action: Option<String>,
}
