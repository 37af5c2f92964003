//! Backup codes: import, states, check-out, results and verify.

use crate::Sensitive;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A generation as the platform issued it: `codes` in order, or a pasted `block`.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportCodes {
    /// The codes in the platform's order; spaces, hyphens and case are normalised.
    #[schema(value_type = Option<Vec<String>>, min_items = 1, max_items = 50)]
    pub codes: Option<Vec<Sensitive>>,
    /// Alternatively, the block as copied from the platform's page (numbered columns are
    /// read in list order).
    #[schema(value_type = Option<String>)]
    pub block: Option<Sensitive>,
    /// The date the platform issued the codes (YYYY-MM-DD).
    #[schema(format = Date)]
    pub issued_on: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ImportedOut {
    pub generation: i32,
    pub total: usize,
    pub issued_on: String,
    /// The generation this one replaced, if any.
    pub superseded: Option<i32>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct CodeStateOut {
    pub position: i32,
    /// unused, checked_out, used or rejected.
    pub state: String,
    pub by: Option<String>,
    pub at: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct FailedAttemptsOut {
    /// Codes reported rejected within the window.
    pub count: u32,
    /// At this many, check-outs wait (the platforms' usual lock-out).
    pub budget: u32,
    pub window_minutes: u32,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct GenerationOut {
    pub generation: i32,
    pub issued_on: String,
    pub total: i32,
    pub remaining: u64,
    pub codes: Vec<CodeStateOut>,
    pub failed_attempts: FailedAttemptsOut,
    /// `low_backup_codes`, `failed_attempts`.
    pub warnings: Vec<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct CheckedOutOut {
    /// As the platform shows it.
    #[schema(value_type = String)]
    pub code: Sensitive,
    pub position: i32,
    pub generation: i32,
    pub remaining: u64,
    pub warnings: Vec<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResultIn {
    #[schema(value_type = OutcomeName)]
    pub outcome: String,
    /// The generation the code came from; the current one when absent.
    #[schema(minimum = 1)]
    pub generation: Option<i32>,
    /// A manager reporting for the person who holds the code (audited as
    /// `backup.result_override`); others may report only codes they hold.
    #[serde(default, rename = "override")]
    pub override_holder: bool,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ResultOut {
    pub position: i32,
    pub generation: i32,
    /// used or rejected.
    pub state: String,
    pub remaining: u64,
    pub failed_attempts: FailedAttemptsOut,
    pub warnings: Vec<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyIn {
    /// The code as typed (spaces, hyphens, case and look-alikes are forgiven).
    #[schema(value_type = String, min_length = 1, max_length = 80)]
    pub code: Sensitive,
}

/// What happened when the code was typed into the platform.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum OutcomeName {
    Worked,
    Rejected,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct VerifyOut {
    /// unused, checked_out, used, rejected, superseded or unknown.
    pub status: String,
    pub generation: Option<i32>,
    pub position: Option<i32>,
    /// False when the code matched only after swapping look-alike characters (O/0, I/1/l…).
    pub exact: bool,
    /// whitespace, hyphen, lowercase, ambiguous_characters.
    pub hints: Vec<String>,
}

/// The position of a code in its generation, from 1.
#[derive(IntoParams)]
#[into_params(names("id", "position"), parameter_in = Path)]
pub struct CodePosition(
    /// The account's id.
    pub String,
    /// The code's position in its generation (1, 2, …).
    #[param(minimum = 1, maximum = 50)]
    pub i32,
);
