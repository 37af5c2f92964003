//! Incidents and their runbooks.

use crate::backup::FailedAttemptsOut;
use crate::wire::Text;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, Deserialize, ToSchema)]
pub struct RunbookOut {
    pub id: String,
    pub title: Text,
    pub summary: Text,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct RunbookList {
    pub runbooks: Vec<RunbookOut>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ChoiceOut {
    pub id: String,
    pub text: Text,
    /// The action this answer runs as you, if any (`checkout_backup_code`, `freeze_account`…).
    pub action: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct StepOut {
    pub id: String,
    /// `question`, `action`, `info` or `done`.
    pub kind: String,
    pub text: Text,
    pub choices: Vec<ChoiceOut>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct TimelineOut {
    pub at: String,
    pub actor: String,
    /// `incident.start`, `incident.answer`, `incident.action`, `incident.resolve` or
    /// `incident.cancel`.
    pub event: String,
    /// `success`, `denied` or `failure`.
    pub outcome: String,
    pub step: Option<String>,
    pub choice: Option<String>,
    pub note: Option<String>,
    /// What an action did (never a secret), or `{"error": code}`.
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct IncidentOut {
    pub id: String,
    /// The account id.
    pub account: String,
    pub team: String,
    pub platform: String,
    pub handle: String,
    pub runbook: String,
    pub title: Option<Text>,
    /// `open`, `resolved` or `cancelled`.
    pub state: String,
    /// The current step; answer it with its id.
    pub step: StepOut,
    /// Answers given so far; send it back with an answer to make sure it answers this visit
    /// of the step.
    pub answers: i32,
    pub note: Option<String>,
    /// How it ended (resolve summary or cancel reason).
    pub summary: Option<String>,
    pub opened_by: String,
    pub opened_at: String,
    pub updated_at: String,
    pub closed_by: Option<String>,
    pub closed_at: Option<String>,
    /// `failed_attempts` when one more rejected code may make the platform lock sign-in.
    pub warnings: Vec<String>,
    pub failed_attempts: Option<FailedAttemptsOut>,
    /// Oldest first (absent in lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Vec<TimelineOut>>,
    /// What the answered step's action did. A checked-out backup code or a revealed TOTP code
    /// (`code`), or a break-glass release key (`release_key`), is here once and never again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct IncidentList {
    pub incidents: Vec<IncidentOut>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    /// The account id.
    pub account: String,
    /// A runbook id from `GET /api/v1/runbooks`, e.g. `lockout`.
    pub runbook: String,
    /// What is going on (up to 500 characters).
    pub note: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    /// The id of the step you are answering; it must still be the current one.
    pub step: String,
    /// One of that step's choice ids.
    pub choice: String,
    /// Anything worth keeping in the timeline (up to 500 characters).
    pub note: Option<String>,
    /// The incident's `answers` you read with the step (optional). When given, it must still
    /// be current: an old answer is refused even after the runbook has come back to the same
    /// step (as it does between backup codes).
    #[schema(minimum = 0)]
    pub answers: Option<i32>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// What happened and what worked (3 to 500 characters).
    pub summary: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// Why the incident is cancelled (3 to 500 characters).
    pub reason: String,
}

#[derive(Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentQuery {
    /// `open`, `resolved` or `cancelled`.
    pub state: Option<String>,
    /// An account id.
    pub account: Option<String>,
}

/// The incident named in the path.
#[derive(IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct IncidentId(
    /// The incident's id.
    pub String,
);
