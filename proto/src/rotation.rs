//! Rotation tasks.

use crate::wire::Steps;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A request to replace one secret of one account on the platform and store the new value.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct TaskOut {
    pub id: String,
    /// The account id.
    pub account: String,
    pub team: String,
    pub platform: String,
    pub handle: String,
    /// `totp`, `hotp`, `password` or `backup_codes`.
    pub kind: String,
    /// `departure`, `leak`, `incident`, `break_glass`, `low_codes` or `manual`.
    pub reason: String,
    /// The departed member whose exposure opened it.
    pub member: Option<String>,
    pub due_at: Option<String>,
    pub overdue: bool,
    /// `open`, `done` or `dismissed`.
    pub state: String,
    /// The member it is given to; null means the account's team managers.
    pub assignee: Option<String>,
    pub created_at: String,
    pub completed_at: Option<String>,
    pub completed_by: Option<String>,
    /// The version (or backup-code generation) whose storing closed the task.
    pub resulting_version: Option<i32>,
    /// The platform's own steps for this rotation, in English and Japanese.
    pub steps: Option<Steps>,
    /// Where on the platform to start.
    pub settings_url: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct TaskList {
    pub tasks: Vec<TaskOut>,
}

#[derive(Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskListQuery {
    /// `open`, `done` or `dismissed`.
    pub state: Option<String>,
    /// An account id.
    pub account: Option<String>,
    /// `departure`, `leak`, `incident`, `break_glass`, `low_codes` or `manual`.
    pub reason: Option<String>,
    /// `true`: only open tasks past their deadline.
    pub overdue: Option<bool>,
    /// A member id: only tasks given to them.
    pub assignee: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// The id of an active member.
    pub assignee: String,
}

/// The rotation task named in the path.
#[derive(IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct TaskId(
    /// The task's id.
    pub String,
);

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenTaskBody {
    /// The account id.
    pub account: String,
    /// `totp`, `hotp`, `password` or `backup_codes`.
    pub kind: String,
    /// Hours until it is overdue (1 to 8760; default: the kind's configured deadline).
    #[schema(minimum = 1, maximum = 8760)]
    pub due_in_hours: Option<u32>,
}
