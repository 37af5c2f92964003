//! Liveness and readiness.

use crate::services::Core;
use actix_web::{web, HttpResponse};

/// Liveness: the process answers. Touches nothing.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(),
    responses((status = 200, description = "alive", example = json!({"status": "ok"}))))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: the database answers, migrations are applied, and every key is the one the
/// database was written with and every key in use is held. Also reports the database
/// server's clock against this host's (`clock.database_skew_ms`; null on SQLite) and the
/// identity provider's as last measured (`clock.idp_skew_ms`, every ten minutes; null
/// before the first answer or without OIDC), with a warning from 3 seconds. Anonymous callers learn what kind
/// of problem there is, never key ids: those go to the log and `keyward keys status`.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(),
    responses((status = 200, description = "ready", example = json!({"status": "ready", "clock": {"database_skew_ms": 2, "idp_skew_ms": 0}, "warnings": []})), (status = 503, description = "not ready, with the reasons")))]
pub async fn readyz(core: web::Data<Core>) -> HttpResponse {
    let ready = core.readiness().await;
    if ready.problems.is_empty() {
        HttpResponse::Ok().json(serde_json::json!({
            "status": "ready",
            "clock": { "database_skew_ms": ready.database_skew_ms, "idp_skew_ms": ready.idp_skew_ms },
            "warnings": ready.warnings,
        }))
    } else {
        HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({ "status": "unavailable", "problems": ready.problems }))
    }
}
