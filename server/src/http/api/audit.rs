//! The audit trail over HTTP (auditor, security_admin).

use crate::audit::{ExportFormat, VerifyReport};
use crate::domain::Invalid;
use crate::http::{ApiError, Authenticated};
use crate::services::Core;
use crate::store::audit::AuditFilter;
use actix_web::{get, web, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Deserialize, IntoParams)]
pub struct AuditQuery {
    /// Return events with a sequence number above this.
    pub after: Option<i64>,
    /// At most this many (1-500, default 100).
    pub limit: Option<u64>,
    /// e.g. `token:0190…`.
    pub actor: Option<String>,
    /// An account id.
    pub account: Option<String>,
    /// e.g. `totp.reveal`.
    pub action: Option<String>,
}

/// A page of audit events, oldest first; `next` is the cursor for the following page.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "`{\"events\":[…],\"next\":SEQ|null}`"), (status = 403, body = super::ErrorBody)))]
#[get("/audit")]
pub async fn list(
    core: web::Data<Core>,
    auth: Authenticated,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let filter = AuditFilter {
        after: query.after.unwrap_or(0).max(0),
        actor: query.actor.filter(|a| !a.is_empty()),
        target: query
            .account
            .filter(|a| !a.is_empty())
            .map(|a| format!("account:{a}")),
        action: query.action.filter(|a| !a.is_empty()),
        outcome: None,
        since: None,
        until: None,
    };
    let (rows, next) = core
        .list_audit(&auth.0, filter, query.limit.unwrap_or(100))
        .await?;
    let events: Vec<serde_json::Value> = rows.iter().map(crate::audit::to_json).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "events": events, "next": next })))
}

/// Recomputes the hash chain.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    responses((status = 200, body = VerifyReport), (status = 403, body = super::ErrorBody)))]
#[get("/audit/verify")]
pub async fn verify(core: web::Data<Core>, auth: Authenticated) -> Result<HttpResponse, ApiError> {
    let report = core.verify_audit(&auth.0).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// The SIEM destinations (`[[audit.forward]]`) and how far each has got.
#[utoipa::path(get, path = "/api/v1/audit/forwarders", tag = "audit",
    responses((status = 200, description = "`{\"forwarders\":[ForwarderStatus…]}`"), (status = 403, body = super::ErrorBody)))]
#[get("/audit/forwarders")]
pub async fn forwarders(
    core: web::Data<Core>,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let forwarders = core.audit_forwarders(&auth.0).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "forwarders": forwarders })))
}

#[derive(Deserialize, IntoParams)]
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

fn bound(raw: Option<&str>, name: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, Invalid> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(None),
        Some(raw) => crate::audit::parse_time_bound(raw)
            .map(Some)
            .ok_or_else(|| {
                Invalid::new(
                    "invalid_time",
                    format!(
                        "{name} must be a time like 2026-11-23T10:00:00Z or a date like 2026-11-23"
                    ),
                )
            }),
    }
}

/// Every matching event, oldest first, streamed as JSON lines or CSV (stable columns,
/// RFC 3339 times). Auditor and security_admin; the export itself is audited.
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit", params(ExportQuery),
    responses((status = 200, description = "JSON lines (application/x-ndjson) or CSV (text/csv)"),
        (status = 403, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
#[get("/audit/export")]
pub async fn export(
    core: web::Data<Core>,
    auth: Authenticated,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let format = match query.format.as_deref().unwrap_or("jsonl") {
        "jsonl" => ExportFormat::Jsonl,
        "csv" => ExportFormat::Csv,
        _ => return Err(Invalid::new("invalid_format", "format is jsonl or csv").into()),
    };
    let filter = AuditFilter {
        after: 0,
        actor: query.actor.clone().filter(|a| !a.is_empty()),
        target: query
            .account
            .as_deref()
            .filter(|a| !a.is_empty())
            .map(|a| format!("account:{a}")),
        action: query.action.clone().filter(|a| !a.is_empty()),
        outcome: None,
        since: bound(query.since.as_deref(), "since")?,
        until: bound(query.until.as_deref(), "until")?,
    };
    core.start_audit_export(&auth.0, &filter, format).await?;
    let head = match format {
        ExportFormat::Csv => format!("{}\n", crate::audit::CSV_HEADER).into_bytes(),
        ExportFormat::Jsonl => Vec::new(),
    };
    // Pages of 500 events, each written as it is read: memory stays flat on large trails.
    let pages = futures_util::stream::unfold(Some(filter), move |state| {
        let core = core.clone();
        async move {
            let mut filter = state?;
            match crate::store::audit::search(core.store.db(), &filter, 500).await {
                Ok(rows) if rows.is_empty() => None,
                Ok(rows) => {
                    filter.after = rows.last().map(|r| r.seq).unwrap_or(filter.after);
                    let mut chunk = Vec::new();
                    let written = crate::audit::write_rows(&mut chunk, format, &rows);
                    let item = written
                        .map(|()| web::Bytes::from(chunk))
                        .map_err(actix_web::error::ErrorInternalServerError);
                    Some((item, Some(filter)))
                }
                Err(err) => {
                    tracing::error!(error = %err, "audit export stopped");
                    Some((
                        Err(actix_web::error::ErrorServiceUnavailable("storage error")),
                        None,
                    ))
                }
            }
        }
    });
    let body = futures_util::stream::once(async move { Ok(web::Bytes::from(head)) }).chain(pages);
    let (content_type, name) = match format {
        ExportFormat::Jsonl => ("application/x-ndjson", "keyward-audit.jsonl"),
        ExportFormat::Csv => ("text/csv; charset=utf-8", "keyward-audit.csv"),
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{name}\""),
        ))
        .streaming(body))
}
