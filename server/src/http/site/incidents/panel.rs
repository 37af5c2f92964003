//! The incident lines other pages show (the accounts list, an account's page, the incidents
//! list) and the runbooks an account's page offers to start one with.

use crate::domain::IncidentState;
use crate::http::site::i18n::Texts;
use crate::http::site::kit::when;
use crate::services::incidents::IncidentView;
use crate::services::runbooks::Text;
use crate::services::{Caller, Core};

/// One incident in a list.
pub struct IncidentLine {
    pub id: String,
    pub account_id: String,
    pub platform: String,
    pub handle: String,
    pub title: String,
    pub step: String,
    pub state: String,
    pub state_label: &'static str,
    pub opened_at: String,
}

/// A runbook to choose when starting an incident.
pub struct RunbookChoice {
    pub id: String,
    pub title: String,
    pub summary: String,
}

pub(super) fn state_label(t: &Texts, state: &str) -> &'static str {
    match state {
        "open" => t.inc.state_open,
        "resolved" => t.inc.state_resolved,
        _ => t.inc.state_cancelled,
    }
}

/// A note after a dash, or nothing.
pub(super) fn dash(note: Option<&str>) -> String {
    note.map(|n| format!("— {n}")).unwrap_or_default()
}

/// The start of a long text, for the timeline.
pub(super) fn shorten(text: &str) -> String {
    const MAX: usize = 60;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(MAX).collect::<String>())
    }
}

pub(super) fn text(t: &Texts, text: &Text) -> String {
    text.in_lang(t.lang).to_owned()
}

pub(super) fn line(core: &Core, t: &Texts, view: IncidentView) -> IncidentLine {
    let runbook = core.runbooks.get(&view.row.runbook);
    let step = runbook
        .and_then(|r| r.step(&view.row.step))
        .map(|s| text(t, &s.text))
        .unwrap_or_else(|| view.row.step.clone());
    IncidentLine {
        title: runbook
            .map(|r| text(t, &r.title))
            .unwrap_or_else(|| view.row.runbook.clone()),
        step,
        state_label: state_label(t, &view.row.state),
        opened_at: when(view.row.opened_at),
        id: view.row.id,
        account_id: view.row.account_id,
        platform: view.platform,
        handle: view.handle,
        state: view.row.state,
    }
}

/// The incidents the caller may read, as lines (open ones, or all), optionally of one account.
pub async fn lines(
    core: &Core,
    caller: &Caller,
    t: &Texts,
    state: Option<IncidentState>,
    account: Option<&str>,
) -> Vec<IncidentLine> {
    match core.incidents(caller, state, account).await {
        Ok(views) => views.into_iter().map(|v| line(core, t, v)).collect(),
        Err(err) => {
            tracing::warn!(error = %err, "incidents not listed");
            Vec::new()
        }
    }
}

/// The runbooks, for the start form.
pub fn runbook_choices(core: &Core, t: &Texts) -> Vec<RunbookChoice> {
    core.runbooks
        .all()
        .map(|r| RunbookChoice {
            id: r.id.clone(),
            title: text(t, &r.title),
            summary: text(t, &r.summary),
        })
        .collect()
}
