//! The audit trail over HTTP (auditor, security_admin).

use crate::audit::{ExportFormat, VerifyReport};
use crate::authz::{Action, ORG_WIDE};
use crate::domain::{FilterText, Invalid};
use crate::http::extract::Query;
use crate::http::{ApiError, Authenticated};
use crate::services::Core;
use crate::store::audit::AuditFilter;
use actix_web::{web, HttpResponse};
use futures_util::StreamExt;
use keyward_proto::audit::{AuditPage, AuditQuery, ExportQuery};

/// A filter value: absent or blank means none; otherwise checked (length, no control
/// characters) so every database treats it alike.
fn filter(raw: Option<&str>, name: &'static str) -> Result<Option<String>, Invalid> {
    FilterText::parse_optional(raw, name).map(|f| f.map(|f| f.as_str().to_owned()))
}

/// Readers of the trail are decided before the query is looked at (a refusal is audited).
async fn authorize_reader(core: &Core, auth: &Authenticated) -> Result<(), ApiError> {
    Ok(core
        .authorize(&auth.0, ORG_WIDE, Action::AuditRead, None)
        .await?)
}

/// A page of audit events, oldest first; `next` is the cursor for the following page.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditPage)))]
pub async fn list(
    core: web::Data<Core>,
    auth: Authenticated,
    query: Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    authorize_reader(&core, &auth).await?;
    let query = query.into_inner()?;
    let filter = AuditFilter {
        after: query.after.unwrap_or(0).max(0),
        actor: filter(query.actor.as_deref(), "actor")?,
        target: filter(query.account.as_deref(), "account")?.map(|a| format!("account:{a}")),
        action: filter(query.action.as_deref(), "action")?,
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
    responses((status = 200, body = VerifyReport), (status = 403, body = keyward_proto::wire::ErrorBody)))]
pub async fn verify(core: web::Data<Core>, auth: Authenticated) -> Result<HttpResponse, ApiError> {
    let report = core.verify_audit(&auth.0).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// The SIEM destinations (`[[audit.forward]]`) and how far each has got.
#[utoipa::path(get, path = "/api/v1/audit/forwarders", tag = "audit",
    responses((status = 200, description = "`{\"forwarders\":[ForwarderStatus…]}`"), (status = 403, body = keyward_proto::wire::ErrorBody)))]
pub async fn forwarders(
    core: web::Data<Core>,
    auth: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let forwarders = core.audit_forwarders(&auth.0).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "forwarders": forwarders })))
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

/// The last line of an export that stopped early: never mistaken for an event.
fn incomplete_trailer(format: ExportFormat, after: i64) -> Vec<u8> {
    let message = format!(
        "the export stopped early after event {after}: the database failed; the events above are complete, run the export again"
    );
    match format {
        ExportFormat::Jsonl => {
            let line =
                serde_json::json!({"error": {"code": "export_incomplete", "message": message}});
            format!("{line}\n").into_bytes()
        }
        ExportFormat::Csv => format!("# ERROR export_incomplete: {message}\n").into_bytes(),
    }
}

/// An export's pages: `first`, then each page `fetch` reads after the last event sent, each
/// written as it is read (memory stays flat on large trails). A failure ends the stream with
/// [`incomplete_trailer`] rather than cutting it silently.
fn export_pages<F, Fut>(
    format: ExportFormat,
    first: Vec<crate::store::audit::AuditRow>,
    fetch: F,
) -> impl futures_util::Stream<Item = Result<web::Bytes, actix_web::Error>>
where
    F: Fn(i64) -> Fut + 'static,
    Fut: std::future::Future<Output = Result<Vec<crate::store::audit::AuditRow>, sea_orm::DbErr>>,
{
    futures_util::stream::unfold(Some(first), move |rows| {
        let next_page = rows.as_ref().and_then(|r| r.last()).map(|r| fetch(r.seq));
        async move {
            let rows = rows.filter(|r| !r.is_empty())?;
            let mut chunk = Vec::new();
            crate::audit::write_rows(&mut chunk, format, &rows).ok()?;
            let after = rows.last().map_or(0, |r| r.seq);
            let next = match next_page?.await {
                Ok(more) => Some(more),
                Err(err) => {
                    tracing::error!(error = %err, "audit export stopped early");
                    chunk.extend_from_slice(&incomplete_trailer(format, after));
                    None
                }
            };
            Some((Ok(web::Bytes::from(chunk)), next))
        }
    })
}

/// Every matching event, oldest first, streamed as JSON lines or CSV (stable columns,
/// RFC 3339 times). Auditor and security_admin; the export itself is audited. An export that
/// fails midway ends with a line `{"error":{"code":"export_incomplete",…}}` (CSV: a line
/// starting `# ERROR export_incomplete`).
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit", params(ExportQuery),
    responses((status = 200, description = "JSON lines (application/x-ndjson) or CSV (text/csv)"),
        (status = 403, body = keyward_proto::wire::ErrorBody), (status = 422, body = keyward_proto::wire::ErrorBody)))]
pub async fn export(
    core: web::Data<Core>,
    auth: Authenticated,
    query: Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    authorize_reader(&core, &auth).await?;
    let query = query.into_inner()?;
    let format = match query.format.as_deref().unwrap_or("jsonl") {
        "jsonl" => ExportFormat::Jsonl,
        "csv" => ExportFormat::Csv,
        _ => return Err(Invalid::new("invalid_format", "format is jsonl or csv").into()),
    };
    let filter = AuditFilter {
        after: 0,
        actor: filter(query.actor.as_deref(), "actor")?,
        target: filter(query.account.as_deref(), "account")?.map(|a| format!("account:{a}")),
        action: filter(query.action.as_deref(), "action")?,
        outcome: None,
        since: bound(query.since.as_deref(), "since")?,
        until: bound(query.until.as_deref(), "until")?,
    };
    let export = std::sync::Arc::new(core.start_audit_export(&auth.0, &filter, format).await?);
    // The first page is read before the first byte goes out, so a failure there is a plain
    // error response; a failure later ends the stream with a line that says so.
    const PAGE: u64 = 500;
    let first = export
        .page(&core, 0, PAGE)
        .await
        .map_err(crate::services::ServiceError::from)?;
    let head = match format {
        ExportFormat::Csv => format!("{}\n", crate::audit::CSV_HEADER).into_bytes(),
        ExportFormat::Jsonl => Vec::new(),
    };
    let pages = export_pages(format, first, move |after| {
        let (core, export) = (core.clone(), export.clone());
        async move { export.page(&core, after, PAGE).await }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64) -> crate::store::audit::AuditRow {
        crate::store::audit::AuditRow {
            seq,
            at: chrono::Utc::now(),
            actor: "cli".into(),
            action: "token.create".into(),
            target: None,
            team: None,
            outcome: "success".into(),
            justification: None,
            ip: None,
            user_agent: None,
            request_id: None,
            details: "{}".into(),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    async fn body(format: ExportFormat, fail_after: i64) -> String {
        let pages = export_pages(format, vec![row(1), row(2)], move |after| async move {
            if after >= fail_after {
                Err(sea_orm::DbErr::Custom("gone".into()))
            } else {
                Ok(vec![row(after + 1), row(after + 2)])
            }
        });
        let chunks: Vec<Result<web::Bytes, actix_web::Error>> = pages.collect().await;
        chunks
            .into_iter()
            .filter_map(Result::ok)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect()
    }

    #[tokio::test]
    async fn an_export_that_fails_midway_ends_with_a_line_that_says_so() {
        let jsonl = body(ExportFormat::Jsonl, 4).await;
        let lines: Vec<&str> = jsonl.lines().collect();
        assert_eq!(lines.len(), 5, "four events, then the trailer: {jsonl}");
        assert!(lines[..4].iter().all(|l| l.contains("\"seq\":")));
        assert!(lines[4].contains("\"export_incomplete\"") && lines[4].contains("after event 4"));
        let csv = body(ExportFormat::Csv, 2).await;
        assert!(csv
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("# ERROR export_incomplete")));
    }
}
