//! Liveness and readiness.

use crate::services::Core;
use actix_web::{get, web, HttpResponse};

/// Liveness: the process answers. Touches nothing.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(),
    responses((status = 200, description = "alive", example = json!({"status": "ok"}))))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: the database answers, migrations are applied and every key in use is held.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(),
    responses((status = 200, description = "ready"), (status = 503, description = "not ready, with the reasons")))]
#[get("/readyz")]
pub async fn readyz(core: web::Data<Core>) -> HttpResponse {
    let mut problems = Vec::new();
    if core.store.ping().await.is_err() {
        problems.push("database: unreachable".to_owned());
    } else {
        match core.store.pending_migrations().await {
            Ok(0) => {}
            Ok(n) => problems.push(format!(
                "database: {n} migrations not applied; run `keyward migrate`"
            )),
            Err(_) => problems.push("database: cannot read the migration table".to_owned()),
        }
        match crate::store::deks::count_by_kek(core.store.db()).await {
            Ok(counts) => {
                let in_use: Vec<&String> = counts.keys().collect();
                let mut held = core.keyring.key_ids();
                if in_use.iter().any(|id| !held.contains(*id)) {
                    let _ = core.keyring.reload();
                    held = core.keyring.key_ids();
                }
                for id in in_use.iter().filter(|id| !held.contains(**id)) {
                    problems.push(format!(
                        "keyring: key {id} wraps stored secrets but is not in the keyring"
                    ));
                }
            }
            Err(_) => problems.push("database: cannot read secrets".to_owned()),
        }
    }
    if problems.is_empty() {
        HttpResponse::Ok().json(serde_json::json!({ "status": "ready" }))
    } else {
        HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({ "status": "unavailable", "problems": problems }))
    }
}
