//! The backup-code panel of an account's page: states, who holds what, the last verify, and a
//! check-out's code shown once.

use super::super::i18n::Texts;
use crate::authz::Action;
use crate::domain::Hint;
use crate::services::accounts::AccountView;
use crate::services::backup::{warning, Verification};
use crate::services::{Caller, Core};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// A code just checked out, shown once.
#[derive(Serialize, Deserialize)]
pub struct ShownCode {
    pub code: Zeroizing<String>,
    pub position: i32,
    pub generation: i32,
}

/// What a typed code turned out to be (states and hints; never a code).
#[derive(Serialize, Deserialize)]
pub struct Verified {
    /// The code as it was typed, repeated beside its answer.
    #[serde(default)]
    pub typed: Zeroizing<String>,
    pub status: String,
    pub generation: Option<i32>,
    pub position: Option<i32>,
    pub hints: Vec<Hint>,
}

/// What a backup-code form produced, for the page its redirect leads to.
#[derive(Default, Serialize, Deserialize)]
pub struct BackupExtras {
    pub checked_out: Option<ShownCode>,
    pub verified: Option<Verified>,
    pub notice: Option<String>,
    pub error: Option<String>,
    /// An import that was refused: its message beside the import form.
    #[serde(default)]
    pub import_error: Option<String>,
}

/// A checked-out code someone else holds, for a manager's override.
pub struct HeldByOther {
    pub position: i32,
    pub holder: String,
    /// When it was checked out.
    pub at: String,
}

/// A code the caller holds, waiting for its outcome.
pub struct Pending {
    pub position: i32,
    pub at: String,
}

/// One position of the generation as a chip.
pub struct Chip {
    pub position: i32,
    pub state: String,
    pub label: &'static str,
    /// Who took or reported it, and when (empty for an unused code).
    pub by: String,
}

pub struct VerifiedView {
    pub typed: String,
    pub status: &'static str,
    pub text: &'static str,
    pub generation: Option<i32>,
    pub position: Option<i32>,
    pub hints: Vec<(&'static str, &'static str)>,
}

/// Everything the section shows.
pub struct BackupPanel {
    pub can_use: bool,
    pub can_import: bool,
    pub generation: Option<i32>,
    pub issued_on: String,
    pub total: i32,
    pub remaining: u64,
    pub chips: Vec<Chip>,
    /// Checked-out codes the caller holds (only the holder reports an outcome)…
    pub pending: Vec<Pending>,
    /// …and, for a manager, those others hold (reported as an override).
    pub held_by_others: Vec<HeldByOther>,
    pub low: bool,
    pub failing: bool,
    pub checked_out: Option<ShownCode>,
    pub verified: Option<VerifiedView>,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub import_error: Option<String>,
    pub today: String,
}

pub(crate) fn state_label(t: &Texts, state: &str) -> &'static str {
    match state {
        "unused" => t.b.state_unused,
        "checked_out" => t.b.state_checked_out,
        "used" => t.b.state_used,
        _ => t.b.state_rejected,
    }
}

pub(crate) fn verified_view(t: &Texts, v: Verified) -> VerifiedView {
    let text = match v.status.as_str() {
        "unused" => t.b.status_unused,
        "checked_out" => t.b.status_checked_out,
        "used" => t.b.status_used,
        "rejected" => t.b.status_rejected,
        "superseded" => t.b.status_superseded,
        _ => t.b.status_unknown,
    };
    let hints = v
        .hints
        .iter()
        .map(|h| {
            let text = match h {
                Hint::Whitespace => t.b.hint_whitespace,
                Hint::Hyphen => t.b.hint_hyphen,
                Hint::Lowercase => t.b.hint_lowercase,
                Hint::AmbiguousCharacters => t.b.hint_ambiguous,
            };
            (h.as_str(), text)
        })
        .collect();
    let status = match v.status.as_str() {
        "unused" => "unused",
        "checked_out" => "checked_out",
        "used" => "used",
        "rejected" => "rejected",
        "superseded" => "superseded",
        _ => "unknown",
    };
    VerifiedView {
        typed: v.typed.as_str().trim().to_owned(),
        status,
        text,
        generation: v.generation,
        position: v.position,
        hints,
    }
}

/// The section for `view`, or nothing when the caller may not read backup codes at all.
pub async fn panel(
    core: &Core,
    caller: &Caller,
    view: &AccountView,
    t: &'static Texts,
    extras: BackupExtras,
) -> Option<BackupPanel> {
    let can_read = core.may(caller, &view.team, Action::BackupRead).await;
    let can_use = core.may(caller, &view.team, Action::BackupCheckout).await;
    let can_import = core.may(caller, &view.team, Action::BackupImport).await;
    if !(can_read || can_use || can_import) {
        return None;
    }
    let mut panel = BackupPanel {
        can_use,
        can_import,
        generation: None,
        issued_on: String::new(),
        total: 0,
        remaining: 0,
        chips: Vec::new(),
        pending: Vec::new(),
        held_by_others: Vec::new(),
        low: view.warnings.contains(&warning::LOW_CODES),
        failing: view.warnings.contains(&warning::FAILED_ATTEMPTS),
        checked_out: extras.checked_out,
        verified: extras.verified.map(|v| verified_view(t, v)),
        notice: extras.notice,
        error: extras.error,
        import_error: extras.import_error,
        today: chrono::Utc::now().date_naive().to_string(),
    };
    if can_read {
        if let Ok(status) = core.backup_status(caller, &view.account.id).await {
            panel.generation = Some(status.generation.generation);
            panel.issued_on = status.generation.issued_on.to_string();
            panel.total = status.generation.total;
            panel.remaining = status.remaining;
            panel.low = status.warnings.contains(&warning::LOW_CODES);
            panel.failing = status.warnings.contains(&warning::FAILED_ATTEMPTS);
            let me = caller.principal.subject();
            let may_override = core
                .may(caller, &view.team, Action::BackupResultOverride)
                .await;
            let when = |c: &crate::store::backup::CodeRow| {
                c.state_at.map(super::super::kit::when).unwrap_or_default()
            };
            for code in status.codes.iter().filter(|c| c.is_checked_out()) {
                match code.state_by.as_deref() {
                    Some(holder) if holder == me => panel.pending.push(Pending {
                        position: code.position,
                        at: when(code),
                    }),
                    Some(holder) if may_override => panel.held_by_others.push(HeldByOther {
                        position: code.position,
                        holder: core.display_name(holder).await,
                        at: when(code),
                    }),
                    _ => {}
                }
            }
            let mut chips = Vec::with_capacity(status.codes.len());
            for c in status.codes {
                let by = match c.state_by.as_deref() {
                    Some(who) => format!("{}, {}", core.display_name(who).await, when(&c)),
                    None => String::new(),
                };
                chips.push(Chip {
                    position: c.position,
                    label: state_label(t, &c.state),
                    state: c.state,
                    by,
                });
            }
            panel.chips = chips;
        }
    } else if let Some(summary) = view.backup() {
        panel.generation = Some(summary.generation);
        panel.issued_on = summary.issued_on.to_string();
        panel.total = summary.total;
        panel.remaining = u64::try_from(summary.remaining).unwrap_or(0);
    }
    Some(panel)
}

impl From<Verification> for Verified {
    fn from(v: Verification) -> Self {
        Self {
            typed: Zeroizing::default(),
            status: v.status.to_owned(),
            generation: v.generation,
            position: v.position,
            hints: v.hints,
        }
    }
}
