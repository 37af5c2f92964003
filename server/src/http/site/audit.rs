//! The audit viewer (auditors and security admins): filters, paging, each event's hash and
//! whether it links to the one before, and the whole chain's verification.

use super::kit::service_failure;
use super::{render, to_signin, Chrome};
use crate::audit::canonical_hash;
use crate::domain::FilterText;
use crate::http::MaybeSession;
use crate::store::audit::AuditFilter;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

const PAGE: u64 = 50;

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    #[serde(default)]
    account: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    /// `oldest` lists the oldest events first (paged with `after`); newest first otherwise
    /// (paged with `before`).
    #[serde(default)]
    order: String,
    after: Option<i64>,
    before: Option<i64>,
}

pub struct EventRow {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    /// The actor as people know them (a member's name or email); the raw subject otherwise.
    pub actor_name: String,
    /// The target as people know it (an account's platform and handle).
    pub target_label: String,
    pub action: String,
    pub target: String,
    /// The account id when the target is an account.
    pub account: Option<String>,
    pub outcome: String,
    pub justification: String,
    pub hash: String,
    pub short_hash: String,
    /// The stored hash matches the content and the previous event's hash (when on this page).
    pub linked: bool,
}

/// One SIEM destination as the page shows it.
pub struct ForwarderRow {
    pub name: String,
    pub kind: String,
    pub destination: String,
    pub state: String,
    pub behind: String,
    pub last_error: Option<String>,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    c: Chrome,
    q: AuditQuery,
    events: Vec<EventRow>,
    chain_note: String,
    chain_ok: bool,
    full_note: String,
    archived_note: Option<String>,
    forwarders: Vec<ForwarderRow>,
    next: Option<String>,
    error: Option<String>,
    /// Newest first (the default), and the link to the other order.
    newest_first: bool,
    other_order: String,
}

/// The id of the one account whose handle is `raw` (optionally after its platform, `x @brand`),
/// or what to say when there is none or several.
async fn account_by_handle(core: &crate::services::Core, raw: &str) -> Result<String, String> {
    let (platform, handle) = match raw.trim().split_once(' ') {
        Some((p, h)) => (crate::domain::Platform::parse(p).ok(), h),
        None => (None, raw),
    };
    let key = crate::domain::Handle::parse(handle)
        .map(|h| h.key())
        .map_err(|e| e.message)?;
    let found = core
        .accounts_with_handle(platform, &key)
        .await
        .map_err(|_| "the accounts could not be read".to_owned())?;
    match found.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => Err(format!("no account has the handle {handle}")),
        several => Err(format!(
            "several accounts have this handle ({}): put the platform first, e.g. \"{} {handle}\"",
            several
                .iter()
                .map(|a| format!("{} {}", a.platform, a.handle))
                .collect::<Vec<_>>()
                .join(", "),
            several[0].platform
        )),
    }
}

/// The audit viewer (auditors and security admins).
#[utoipa::path(get, path = "/audit", tag = "dashboard", security(("session" = [])), params(AuditQuery),
    responses((status = 200, description = "the page (HTML)", content_type = "text/html"), (status = 303, description = "a redirect (see Location)"), (status = 403, description = "not allowed", content_type = "text/html")))]
pub async fn audit(
    req: HttpRequest,
    core: web::Data<crate::services::Core>,
    session: MaybeSession,
    query: web::Query<AuditQuery>,
) -> HttpResponse {
    let Some(caller) = session.0 else {
        let here = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/audit");
        return to_signin(here);
    };
    let c = Chrome::new(&req, &core, Some(&caller));
    let q = query.into_inner();
    let mut error = None;
    let mut bound = |raw: &str| {
        let raw = raw.trim();
        if raw.is_empty() {
            return None;
        }
        let parsed = crate::audit::parse_time_bound(raw);
        if parsed.is_none() {
            error = Some(format!(
                "{raw:?}: use a date like 2026-11-23 or a time like 2026-11-23T10:00:00Z"
            ));
        }
        parsed
    };
    let (since, until) = (bound(&q.since), bound(&q.until));
    // Checked like the API's filters (length, no control characters), so every database
    // answers them alike; a bad one is said on the page, and nothing matches it.
    let mut text = |raw: &str, name: &'static str| match FilterText::parse_optional(Some(raw), name)
    {
        Ok(value) => value.map(|v| v.as_str().to_owned()),
        Err(invalid) => {
            error = Some(invalid.message);
            None
        }
    };
    // The account is named by its id, or by its handle (`@brand`, or `x @brand` for one
    // platform's).
    let account = text(&q.account, "account");
    let (actor, action, outcome) = (
        text(&q.actor, "actor"),
        text(&q.action, "action"),
        text(&q.outcome, "outcome"),
    );
    let account = match account {
        Some(a) if !crate::domain::is_id(&a) => match account_by_handle(&core, &a).await {
            Ok(id) => Some(id),
            Err(message) => {
                error = Some(message);
                None
            }
        },
        other => other,
    };
    let filter = AuditFilter {
        after: q.after.unwrap_or(0).max(0),
        actor,
        target: account.map(|a| format!("account:{a}")),
        action,
        outcome,
        since,
        until,
    };
    let filter = if error.is_some() {
        // Show nothing rather than more than was asked for.
        AuditFilter {
            after: i64::MAX,
            ..filter
        }
    } else {
        filter
    };
    let oldest_first = q.order == "oldest";
    let listed = if oldest_first {
        core.list_audit(&caller, filter, PAGE).await
    } else {
        core.list_audit_newest(&caller, filter, q.before, PAGE)
            .await
    };
    let (mut rows, next) = match listed {
        Ok(page) => page,
        Err(err) => return service_failure(c, err),
    };
    // Links are checked oldest to newest, whatever the order shown.
    if !oldest_first {
        rows.reverse();
    }
    let status = match core.audit_chain_status(&caller).await {
        Ok(status) => status,
        Err(err) => return service_failure(c, err),
    };
    let report = status.report;
    let full_ok = status.last_full.as_ref().is_none_or(|(_, full)| full.ok);
    let full_note = match &status.last_full {
        Some((at, full)) if full.ok => {
            c.t.a
                .full_ok
                .replace("{at}", &at.format("%Y-%m-%d %H:%M").to_string())
                .replace("{checked}", &full.checked.to_string())
        }
        Some((at, full)) => {
            c.t.a
                .full_broken
                .replace("{at}", &at.format("%Y-%m-%d %H:%M").to_string())
                .replace("{seq}", &full.first_bad_seq.unwrap_or(0).to_string())
        }
        None => c.t.a.full_pending.replace(
            "{minutes}",
            &core.settings.audit.verify_every_minutes.to_string(),
        ),
    };
    let forwarders = match core.audit_forwarders(&caller).await {
        Ok(list) => list
            .into_iter()
            .map(|f| ForwarderRow {
                behind: c.t.a.behind.replace("{lag}", &f.lag.to_string()),
                name: f.name,
                kind: f.kind,
                destination: f.destination,
                state: f.state,
                last_error: f.last_error,
            })
            .collect(),
        Err(err) => return service_failure(c, err),
    };
    let archived_note = report
        .archived_through
        .map(|seq| c.t.a.archived.replace("{seq}", &seq.to_string()));
    let mut previous: Option<(i64, String)> = None;
    let events: Vec<EventRow> = rows
        .into_iter()
        .map(|row| {
            let follows = previous
                .as_ref()
                .is_none_or(|(seq, hash)| *seq + 1 != row.seq || *hash == row.prev_hash);
            let linked = follows && canonical_hash(&row) == row.hash;
            previous = Some((row.seq, row.hash.clone()));
            let target = row.target.clone().unwrap_or_default();
            EventRow {
                seq: row.seq,
                at: row.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                account: target.strip_prefix("account:").map(str::to_owned),
                target_label: target.clone(),
                target,
                actor_name: row.actor.clone(),
                actor: row.actor,
                action: row.action,
                outcome: row.outcome,
                justification: row.justification.unwrap_or_default(),
                short_hash: row.hash.chars().take(12).collect(),
                hash: row.hash,
                linked,
            }
        })
        .collect();
    // Names instead of ids, looked up once per page.
    let mut events = events;
    if !oldest_first {
        events.reverse();
    }
    let mut names: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut handles: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for e in &mut events {
        if !names.contains_key(&e.actor) {
            let name = core.display_name(&e.actor).await;
            names.insert(e.actor.clone(), name);
        }
        e.actor_name = names.get(&e.actor).cloned().unwrap_or_default();
        if let Some(id) = e.account.clone() {
            if !handles.contains_key(&id) {
                let found = core.account_for_label(&id).await;
                let label = found
                    .map(|a| format!("{} {}", c.t.w.platform(&a.platform), a.handle))
                    .unwrap_or_else(|| e.target.clone());
                handles.insert(id.clone(), label);
            }
            e.target_label = handles.get(&id).cloned().unwrap_or_default();
        } else if e.target.starts_with("member:") || e.target.starts_with("token:") {
            if !names.contains_key(&e.target) {
                let name = core.display_name(&e.target).await;
                names.insert(e.target.clone(), name);
            }
            e.target_label = names.get(&e.target).cloned().unwrap_or_default();
        }
    }
    // The rows on this page are checked one by one as well: an edited older event shows here
    // at once, before the next recomputation of the whole chain.
    let broken_row = events.iter().find(|e| !e.linked).map(|e| e.seq);
    let chain_note = if let (true, Some(seq)) = (report.ok, broken_row) {
        c.t.a
            .chain_broken
            .replace("{seq}", &seq.to_string())
            .replace("{reason}", c.t.a.row_broken)
    } else if report.ok {
        let text = super::i18n::count(c.t.a.chain_ok, "checked", report.checked);
        super::i18n::count(&text, "checkpoints", report.checkpoints)
            .replace("{seq}", &report.head_seq.to_string())
    } else {
        c.t.a
            .chain_broken
            .replace("{seq}", &report.first_bad_seq.unwrap_or(0).to_string())
            .replace("{reason}", report.reason.as_deref().unwrap_or(""))
    };
    // The same filters in another order, or on the next page.
    let link = |order: &str, page: Option<(&str, i64)>| {
        let mut url = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in [
            ("account", &q.account),
            ("actor", &q.actor),
            ("action", &q.action),
            ("outcome", &q.outcome),
            ("since", &q.since),
            ("until", &q.until),
        ] {
            if !value.trim().is_empty() {
                url.append_pair(key, value.trim());
            }
        }
        if order == "oldest" {
            url.append_pair("order", "oldest");
        }
        if let Some((key, seq)) = page {
            url.append_pair(key, &seq.to_string());
        }
        let query = url.finish();
        if query.is_empty() {
            "/audit".to_owned()
        } else {
            format!("/audit?{query}")
        }
    };
    let next = next.map(|seq| {
        if oldest_first {
            link("oldest", Some(("after", seq)))
        } else {
            link("newest", Some(("before", seq)))
        }
    });
    let other_order = link(if oldest_first { "newest" } else { "oldest" }, None);
    render(
        StatusCode::OK,
        &AuditPage {
            c,
            q,
            events,
            chain_note,
            chain_ok: report.ok && broken_row.is_none() && full_ok,
            full_note,
            archived_note,
            forwarders,
            next,
            error,
            newest_first: !oldest_first,
            other_order,
        },
    )
}
