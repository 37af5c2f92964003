//! Liveness and readiness.

use crate::services::keys::KeyProblem;
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
    let mut problems = Vec::new();
    if core.draining.load(std::sync::atomic::Ordering::Relaxed) {
        problems.push("draining: this replica is stopping".to_owned());
    }
    if core.store.ping().await.is_err() {
        problems.push("database: unreachable".to_owned());
    } else {
        match core.store.pending_migrations().await {
            Ok(0) => match crate::services::keys::health(
                &core.store,
                &core.keyring,
                &core.kek_ids_at_start,
            )
            .await
            {
                Ok(found) => {
                    for (id, problem) in &found {
                        tracing::error!(key_id = %id, ?problem, "keyring is not ready");
                    }
                    if found.iter().any(|(_, p)| *p == KeyProblem::Mismatch) {
                        problems.push(
                            "keyring: a key in the key file is not the one this database was written with; see the server log or `keyward keys status`"
                                .to_owned(),
                        );
                    }
                    if found.iter().any(|(_, p)| *p == KeyProblem::Missing) {
                        problems.push(
                            "keyring: a key that wraps stored secrets is missing from the key file; see `keyward keys status`"
                                .to_owned(),
                        );
                    }
                }
                Err(_) => problems.push("database: cannot read the key check values".to_owned()),
            },
            Ok(n) => problems.push(format!(
                "database: {n} migrations not applied; run `keyward migrate`"
            )),
            Err(_) => problems.push("database: cannot read the migration table".to_owned()),
        }
    }
    // The clocks: a skew is a warning, not unreadiness (codes are still served).
    let mut warnings = Vec::new();
    let database_skew = if problems.is_empty() {
        crate::services::clock::database_skew_ms(&core.store)
            .await
            .ok()
            .flatten()
    } else {
        None
    };
    if let Some(text) =
        database_skew.and_then(|ms| crate::services::clock::describe("the database server", ms))
    {
        tracing::warn!(
            skew_ms = database_skew,
            "clock skew against the database server"
        );
        warnings.push(text);
    }
    let idp_skew = core.idp_clock.get();
    if let Some(text) =
        idp_skew.and_then(|ms| crate::services::clock::describe("the identity provider", ms))
    {
        warnings.push(text);
    }
    if problems.is_empty() {
        HttpResponse::Ok().json(serde_json::json!({
            "status": "ready",
            "clock": { "database_skew_ms": database_skew, "idp_skew_ms": idp_skew },
            "warnings": warnings,
        }))
    } else {
        HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({ "status": "unavailable", "problems": problems }))
    }
}
