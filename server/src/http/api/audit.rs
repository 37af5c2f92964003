//! The audit trail over HTTP (auditor, security_admin).

use crate::audit::VerifyReport;
use crate::http::{ApiError, Authenticated};
use crate::services::Core;
use crate::store::audit::AuditFilter;
use actix_web::{get, web, HttpResponse};
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
