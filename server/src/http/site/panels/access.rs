//! What an account's page shows of its access policy: under `approval`, the caller's grant
//! and the time left, their waiting request, or the form to ask.

use super::super::i18n::Texts;
use super::super::kit::when;
use crate::authz::Action;
use crate::domain::access::GrantAction;
use crate::services::access::AccessQuery;
use crate::services::accounts::AccountView;
use crate::services::{Caller, Core};

/// The caller's live (or suspended) grant.
pub struct GrantLine {
    pub id: String,
    pub until: String,
    /// Unix time the grant ends, for the countdown.
    pub ends_at: i64,
    /// Seconds left now.
    pub left: i64,
    pub what: String,
    pub suspended: bool,
}

/// The caller's request waiting for approval.
pub struct PendingLine {
    pub id: String,
    pub at: String,
    pub progress: String,
}

/// A choice of the ask form.
pub struct AskOption {
    pub field: String,
    pub label: &'static str,
    /// Ticked at first (the one-time code, when it is among them).
    pub checked: bool,
}

pub struct AccessPanel {
    /// No live grant: the account's secrets are held back from the caller.
    pub held_back: bool,
    pub two_approvers: bool,
    pub grant: Option<GrantLine>,
    pub pending: Option<PendingLine>,
    pub options: Vec<AskOption>,
    pub minutes: Vec<u32>,
    pub error: Option<String>,
}

/// The form field of a grantable action (`totp.reveal` → `totp_reveal`).
pub fn field_of(action: GrantAction) -> String {
    action.as_str().replace('.', "_")
}

/// The panel, for an account under `approval` (none for an open one).
pub async fn panel(
    core: &Core,
    caller: &Caller,
    view: &AccountView,
    t: &Texts,
    error: Option<String>,
) -> Option<AccessPanel> {
    let account = &view.account;
    if account.access == "open" {
        return None;
    }
    let mine = core
        .access_requests(
            caller,
            AccessQuery {
                account: Some(account.id.clone()),
                mine: true,
                limit: 20,
                ..AccessQuery::default()
            },
        )
        .await
        .unwrap_or_default();
    let now = chrono::Utc::now();
    let grant = mine
        .iter()
        .filter(|v| v.state == "approved")
        .max_by_key(|v| v.row.expires_at)
        .and_then(|v| {
            let ends = v.row.expires_at?;
            Some(GrantLine {
                id: v.row.id.clone(),
                until: when(ends),
                ends_at: ends.timestamp(),
                left: (ends - now).num_seconds().max(0),
                what: t.acc.actions(&v.row.action_names()),
                suspended: v.suspended,
            })
        });
    let pending = mine
        .iter()
        .find(|v| v.state == "pending")
        .map(|v| PendingLine {
            id: v.row.id.clone(),
            at: when(v.row.created_at),
            progress: crate::http::site::i18n::count(
                t.acc.pending_approvals,
                "m",
                i64::from(v.row.approvers_needed),
            )
            .replace("{n}", &v.row.approval_list().len().to_string()),
        });
    let may_ask = core.may(caller, &view.team, Action::AccessRequest).await;
    let mut options = Vec::new();
    if may_ask && grant.is_none() && pending.is_none() {
        for action in GrantAction::ALL {
            let (right, held) = match action {
                GrantAction::TotpReveal => (Action::TotpReveal, view.has("totp")),
                GrantAction::HotpReveal => (Action::HotpReveal, view.has("hotp")),
                GrantAction::BackupCheckout => (Action::BackupCheckout, view.backup().is_some()),
                GrantAction::PasswordReveal => (Action::PasswordReveal, view.has("password")),
                GrantAction::TotpExport => (Action::TotpExport, view.has("totp")),
                GrantAction::HotpExport => (Action::HotpExport, view.has("hotp")),
            };
            if held && core.may(caller, &view.team, right).await {
                options.push(AskOption {
                    field: field_of(action),
                    label: t.acc.action(action),
                    checked: action == GrantAction::TotpReveal,
                });
            }
        }
    }
    let max = core.settings.access.max_minutes;
    let mut minutes: Vec<u32> = [15, 30, 60, 120, 240, 480]
        .into_iter()
        .filter(|m| *m <= max)
        .collect();
    if minutes.is_empty() {
        minutes.push(max);
    }
    Some(AccessPanel {
        held_back: grant.as_ref().is_none_or(|g| g.suspended),
        two_approvers: account.approvers_needed >= 2,
        grant,
        pending,
        options,
        minutes,
        error,
    })
}
